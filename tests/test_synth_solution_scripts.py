"""Reference-solution scripts as modules: their feature and model helpers on tiny frames, and
the text a sandbox job runs (sandmle imports inlined, settings first, run as __main__)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from sandmle.synth.solution_scripts import (cache, denoise, features, normalise, predict, script_source, submission,
                                           with_settings)

FEATURES = {"tabular": "onehot", "text": "word12", "image": "all", "audio": "all"}


@pytest.fixture
def cfg(monkeypatch):
    """Set the settings a script's first line would bind, in every script module."""
    def set_cfg(**settings):
        for module in (features, predict, normalise, denoise):
            monkeypatch.setattr(module, "CFG", settings)
        return settings
    return set_cfg


def frames():
    train = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
        "colour": ["red", "blue", "red", None, "blue", "red"],
        "when": ["2021-01-04 10:30", "2021-02-05 11:00", "2021-03-06 12:00", "2021-04-07 13:00",
                 "2021-05-08 14:00", "2021-06-09 15:00"],
        "note": ["the cat sat on the mat", "a dog ran in the park", "the cat ate all the fish",
                 "a dog barked at the mailman", "the cat slept all day long", "a dog dug a hole in the yard"],
        "label": ["cat", "dog", "cat", "dog", "cat", "dog"],
    })
    test = train.drop(columns=["label"]).iloc[:3].assign(id=[7, 8, 9], colour=["green", "blue", "red"])
    return train, test


def test_column_roles_tell_numbers_dates_text_and_categories_apart():
    train, test = frames()
    assert features.column_roles(train, test, "id") == {
        "size": "numeric", "colour": "categorical", "when": "datetime", "note": "text"}


def test_tabular_block_one_hot_imputes_and_codes_unseen_levels():
    train, test = frames()
    roles = features.column_roles(train, test, "id")
    xtr, xte = features.tabular_block(train, test, roles, "onehot")
    # size, 3 colour levels (NA, blue, red), 4 date parts
    assert xtr.shape == (6, 8) and xte.shape == (3, 8)
    assert xtr[2, 0] == 4.0                       # the missing size is the median of the others
    assert xte[0, 1:4].tolist() == [0.0, 0.0, 0.0]  # "green" was never seen: no level is set
    assert xtr[3, 1:4].tolist() == [1.0, 0.0, 0.0]  # a missing colour is a level of its own
    assert xte[0, 4:].tolist() == [10.5, 0.0, 1.0, 4.0]   # 2021-01-04 10:30, a Monday
    _, ordinal = features.tabular_block(train, test, roles, "ordinal")
    assert ordinal[0, 1] == -1.0
    first, _ = features.tabular_block(train, test, roles, "first_numeric")
    assert first.shape == (6, 1)
    assert features.tabular_block(train, test, roles, "none") == (None, None)


def test_text_block_builds_ngrams_or_length_statistics():
    train, test = frames()
    roles = features.column_roles(train, test, "id")
    xtr, xte = features.text_block(train, test, roles, "word1")
    assert sparse.issparse(xtr) and xtr.shape[0] == 6 and xte.shape == (3, xtr.shape[1])
    length, _ = features.text_block(train, test, roles, "length")
    assert length[0].tolist() == [len("the cat sat on the mat"), 6.0, 0.0]
    with pytest.raises(ValueError):
        features.text_block(train, test, roles, "no-such-spec")


def test_features_stack_dense_blocks_into_sparse_when_text_is_there(cfg):
    train, test = frames()
    cfg(**FEATURES)
    xtr, xte = features.features(train, test, "id")
    assert sparse.issparse(xtr) and xtr.shape[0] == 6 and xte.shape[0] == 3
    cfg(**dict(FEATURES, text="none"))
    dense, _ = features.features(train, test, "id")
    assert isinstance(dense, np.ndarray) and dense.shape == (6, 8)
    cfg(**dict(FEATURES, text="none", tabular="none"))
    empty, _ = features.features(train, test, "id")
    assert empty.shape == (6, 1) and not empty.any()


def png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def test_image_vector_describes_the_object_in_front_of_the_background(tmp_path):
    rgb = np.full((32, 32, 3), 230, dtype=np.uint8)
    rgb[8:24, 10:22] = (200, 30, 30)              # a red block, 12 wide and 16 high
    path = tmp_path / "x.png"
    path.write_bytes(png(rgb))
    described = features.image_vector(path, "object")
    assert described.shape == (12,)
    assert np.allclose(described[:3], 230 / 255)                  # the background's colour
    assert np.allclose(described[3:6], [200 / 255, 30 / 255, 30 / 255])   # the object's colour
    assert described[7] < 0                                        # taller than wide
    assert features.image_vector(path, "hist").shape == (30,)
    assert features.image_vector(path, "pixels").shape == (192,)


def test_histograms_bin_and_sum_each_entry_exactly_as_numpy():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (200, 16, 16)) / 255.0
    for row, image in zip(features.histograms(pixels, 8, 1.0), pixels):
        assert np.array_equal(row, np.histogram(image, bins=8, range=(0, 1))[0])
    angles, weights = rng.uniform(0, np.pi, (200, 64)), rng.exponential(size=(200, 64))
    angles[:, :4] = [0.0, np.pi / 6, np.nextafter(np.pi / 3, 0), np.nextafter(np.pi, 0)]   # on and next to edges
    got = features.histograms(angles, 6, np.pi, weights=weights)
    assert got.dtype == float and got.shape == (200, 6)
    for row, a, w in zip(got, angles, weights):
        assert np.array_equal(row, np.histogram(a, 6, range=(0, np.pi), weights=w)[0])


def test_band_sums_cut_and_sum_as_array_split():
    rng = np.random.default_rng(0)
    for length in (0, 5, 24, 25, 1001, 8000):
        power = rng.exponential(size=length)
        for parts in (4, 12, 24):
            expected = np.array([b.sum() for b in np.array_split(power, parts)])
            assert np.array_equal(features.band_sums(power, parts), expected)
    assert np.array_equal(features.hanning(400), np.hanning(400))


def test_joined_text_joins_each_rows_text_columns_as_a_row_join_does():
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "title": ["a b", None, "c", ""], "body": ["x", "y z", None, "w"]},
                         index=[10, 3, 7, 1])
    expected = frame[["title", "body"]].fillna("").astype(str).agg(" ".join, axis=1)
    got = features.joined_text(frame, ["title", "body"])
    assert list(got) == list(expected) == ["a b x", " y z", "c ", " w"] and got.index.equals(expected.index)
    assert list(features.joined_text(frame, ["body"])) == ["x", "y z", "", "w"]


def wav(path: Path, x: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes((x * 32767).astype("<i2").tobytes())


def test_call_features_find_the_pitch_of_the_loudest_call(tmp_path):
    rate = 8000
    t = np.arange(rate) / rate
    x = 0.01 * np.sin(2 * np.pi * 60 * t)                          # mains hum
    x[3000:4000] += 0.5 * np.sin(2 * np.pi * 1000 * t[3000:4000])   # one call at 1 kHz
    path = tmp_path / "x.wav"
    wav(path, x, rate)
    calls = features.audio_vector(path, "calls")
    assert calls.shape == (7,)
    assert abs(calls[0] * rate - 1000) < 50                       # the call's pitch, ignoring the hum
    assert calls[4] == 1                                          # one call
    assert features.audio_vector(path, "bands").shape == (24,)


def test_audio_block_gives_each_clip_the_features_it_gets_alone(tmp_path, monkeypatch):
    """Clips of one length share their FFTs in audio_block; every row must still be the
    clip's own features bit for bit (a clip of another length rides alone)."""
    rng = np.random.default_rng(0)
    (tmp_path / "input" / "audio").mkdir(parents=True)
    lengths = {"a": 4000, "b": 4000, "c": 4000, "d": 3000}
    for name, n in lengths.items():
        wav(tmp_path / "input" / "audio" / f"{name}.wav", np.clip(rng.normal(0, 0.2, n), -1, 1), 8000)
    monkeypatch.chdir(tmp_path)
    fresh = {}
    monkeypatch.setattr(features, "FEATURE_CACHE", fresh)
    monkeypatch.setattr(cache, "FEATURE_CACHE", fresh)
    train, test = pd.DataFrame({"id": ["a", "d", "b"]}), pd.DataFrame({"id": ["c"]})
    xtr, xte = features.audio_block(train, test, "id", "all")
    calls, _ = features.audio_block(train, test, "id", "calls+bands")
    assert ("audio", "spectro", str(tmp_path / "input" / "audio" / "b.wav")) in fresh     # filled in one pass
    for row, name in [(xtr[0], "a"), (xtr[1], "d"), (xtr[2], "b"), (xte[0], "c")]:
        path = tmp_path / "input" / "audio" / f"{name}.wav"
        alone = np.concatenate([features.audio_part(path, part) for part in ("bands", "spectro", "stats")])
        assert np.array_equal(row, alone)
    assert np.array_equal(calls[1], np.concatenate([features.audio_part(tmp_path / "input" / "audio" / "d.wav", part)
                                                    for part in ("calls", "bands")]))


def test_image_block_gives_each_image_the_features_it_gets_alone(tmp_path, monkeypatch):
    """Images of one size share their statistics and morphology in image_block; every row
    must still be the image's own features bit for bit (an image of another size rides alone)."""
    from PIL import Image
    rng = np.random.default_rng(0)
    (tmp_path / "input" / "images").mkdir(parents=True)
    sizes = {"a": 24, "b": 24, "c": 24, "d": 20}
    for name, size in sizes.items():
        pixels = rng.integers(0, 60, (size, size, 3))
        pixels[5:15, 6:16] += 150                              # an object on a dark background
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "input" / "images" / f"{name}.png")
    monkeypatch.chdir(tmp_path)
    fresh = {}
    monkeypatch.setattr(features, "FEATURE_CACHE", fresh)
    monkeypatch.setattr(cache, "FEATURE_CACHE", fresh)
    train, test = pd.DataFrame({"id": ["a", "d", "b"]}), pd.DataFrame({"id": ["c"]})
    xtr, xte = features.image_block(train, test, "id", "all")
    objects, _ = features.image_block(train, test, "id", "object+hist")
    assert ("image", "object", str(tmp_path / "input" / "images" / "b.png")) in fresh     # filled in one pass
    for row, name in [(xtr[0], "a"), (xtr[1], "d"), (xtr[2], "b"), (xte[0], "c")]:
        path = tmp_path / "input" / "images" / f"{name}.png"
        assert np.array_equal(row, np.concatenate([features.image_part(path, part) for part in ("pixels", "hist", "edges")]))
    alone = [features.image_part(tmp_path / "input" / "images" / "b.png", part) for part in ("object", "hist")]
    assert np.array_equal(objects[2], np.concatenate(alone)) and alone[0][6] > 0.2     # the object covers a share


def test_word_blocks_equal_their_vectorisers():
    """word* and count* blocks share one tokenisation; each must equal its own vectoriser."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    tr = pd.Series(["the cat sat", "a dog ran in the park", "the cat ate the fish", "dog dog dog"])
    te = pd.Series(["the cat ran", "a new word"])
    vectorisers = {"word1": TfidfVectorizer(sublinear_tf=True), "word12": TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                   "count1": CountVectorizer(binary=True), "count12": CountVectorizer(ngram_range=(1, 2), binary=True)}
    for spec, vec in vectorisers.items():
        for got, want in zip(features.text_matrices(tr, te, spec), (vec.fit_transform(tr), vec.transform(te))):
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got.toarray(), want.toarray()), spec


@pytest.mark.parametrize("name, params, clf_type, reg_type", [
    ("tree", {"depth": 3}, "DecisionTreeClassifier", "DecisionTreeRegressor"),
    ("forest", {"n": 5}, "RandomForestClassifier", "RandomForestRegressor"),
    ("gbm", {"n": 5, "lr": 0.1, "depth": 2}, "GradientBoostingClassifier", "GradientBoostingRegressor"),
    ("linear", {"C": 1.0}, "LogisticRegression", "Ridge"),
    ("knn", {"k": 3}, "KNeighborsClassifier", "KNeighborsRegressor"),
    ("nb", {}, "GaussianNB", "BayesianRidge"),
])
def test_make_model_builds_the_named_family(cfg, name, params, clf_type, reg_type):
    cfg(model=name, params=params)
    for task, expected in (("clf", clf_type), ("reg", reg_type)):
        model = predict.make_model(task, False)
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        assert type(final).__name__ == expected
    cfg(model="no-such-model", params={})
    with pytest.raises(ValueError):
        predict.make_model("clf", False)


def test_scores_of_orders_columns_by_the_wanted_classes(cfg):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array(["b", "a", "b", "a"])
    model = LogisticRegression().fit(x, y)
    p = predict.scores_of(model, x, ["b", "z", "a"])
    assert np.allclose(p[:, 1], 0.0)                                 # a class the model never saw
    assert np.allclose(p[:, [2, 0]], model.predict_proba(x))
    margins = predict.scores_of(LinearSVC().fit(x, y), x, ["a", "b"])  # no predict_proba
    assert np.allclose(margins.sum(axis=1), 1.0)


def test_constant_fits_predict_the_prior_and_break_ranking_ties(cfg):
    x, xt = np.zeros((4, 1)), np.zeros((3, 1))
    cfg(model="constant", params={})
    assert np.allclose(predict.fit_classes(x, ["a", "a", "a", "b"], xt, ["a", "b"]), [[0.75, 0.25]] * 3)
    assert predict.fit_values(x, [1.0, 2.0, 3.0, 10.0], xt).tolist() == [2.5] * 3
    cfg(model="constant", params={}, metric="spearman")
    ranked = predict.fit_values(x, [1.0, 2.0, 3.0, 10.0], xt)
    assert (np.diff(ranked) > 0).all()


def test_shrink_blends_probabilities_towards_the_prior(cfg):
    x = np.array([[0.0], [0.1], [5.0], [5.1]])
    y = np.array(["a", "a", "b", "b"])
    cfg(model="tree", params={"depth": 2})
    sharp = predict.fit_classes(x, y, x, ["a", "b"])
    cfg(model="tree", params={"depth": 2}, shrink=0.5)
    assert np.allclose(predict.fit_classes(x, y, x, ["a", "b"]), 0.5 * sharp + 0.25)


def write_inputs(folder: Path) -> None:
    train, test = frames()
    (folder / "input").mkdir()
    train.to_csv(folder / "input" / "train.csv", index=False)
    test.to_csv(folder / "input" / "test.csv", index=False)
    pd.DataFrame({"id": test["id"], "label": "cat"}).to_csv(folder / "input" / "sample_submission.csv", index=False)


def test_predict_main_writes_the_submission_layout(cfg, tmp_path, monkeypatch):
    write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    cfg(**FEATURES, id_column="id", kind="label", metric="accuracy", classes=["cat", "dog"], k=5, num_grades=0,
        model="linear", params={"C": 1.0})
    predict.main()
    out = pd.read_csv(tmp_path / "submission.csv")
    assert list(out.columns) == ["id", "label"] and out["id"].tolist() == [7, 8, 9]
    assert set(out["label"]) <= {"cat", "dog"}


def test_write_submission_reads_back_as_the_pandas_file_does(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": ["007", "a,b", "x"], "p": rng.random(3) * [1e-7, 1.0, 1e6],
                          "grade": np.array([1, 2, 3]), "label": ["cat", "say \"hi\"", "dog"]})
    frame.loc[1, "p"] = np.nan
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    submission.write_submission({c: frame[c] for c in frame.columns}, tmp_path / "fast.csv")
    ours, theirs = (pd.read_csv(tmp_path / f, dtype={"id": str}) for f in ("fast.csv", "pandas.csv"))
    pd.testing.assert_frame_equal(ours, theirs)        # the same floats to the last bit; NaN an empty cell
    assert (tmp_path / "fast.csv").read_text().splitlines()[2].startswith('"a,b",,2,')


def test_the_sandbox_text_is_self_contained_and_runs_as_main(tmp_path):
    settings = dict(FEATURES, id_column="id", kind="label", metric="accuracy", classes=["cat", "dog"], k=5,
                    num_grades=0, model="forest", params={"n": 10})
    code = with_settings(settings, script_source("predict"))
    assert code.startswith("CFG = {'audio': 'all', ") and "from sandmle" not in code
    assert "def column_roles(" in code                       # features.py is inlined
    write_inputs(tmp_path)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-800:]
    assert pd.read_csv(tmp_path / "submission.csv")["id"].tolist() == [7, 8, 9]


def test_normalise_text_inlines_the_spoken_forms():
    code = script_source("normalise")
    assert "from sandmle" not in code and "from __future__" not in code and "def spoken(" in code
    compile(with_settings({"lang": "en"}, code), "normalise", "exec")


def test_settings_must_be_plain_data():
    with pytest.raises(TypeError):
        with_settings({"model": object()}, script_source("denoise"))
    assert with_settings({"b": 1, "a": [1, 2]}, "pass\n") == "CFG = {'a': [1, 2], 'b': 1}\npass\n"


def test_guess_class_reads_the_token_shape():
    assert [normalise.guess_class(t) for t in ("12.03.2021", "10:30", "$5", "5kg", "3rd", "1999", "NASA", "cat")] \
        == ["DATE", "TIME", "MONEY", "MEASURE", "ORDINAL", "CARDINAL", "LETTERS", "PLAIN"]


def test_pixel_features_describe_each_pixel_and_its_neighbourhood():
    img = np.linspace(0, 1, 20).reshape(4, 5)
    x = denoise.pixel_features(img, 1)
    assert x.shape == (20, 9 + 3)
    assert np.allclose(x[:, 4], img.ravel())                 # the centre of each 3x3 window
    assert type(denoise.make_model("knn", {"k": 3})).__name__ == "KNeighborsRegressor"
    with pytest.raises(ValueError):
        denoise.make_model("no-such-model", {})


def test_batch_runs_each_solution_in_its_own_folder_and_reports_failures(tmp_path):
    (tmp_path / "input").mkdir()
    solutions = [{"name": "ok", "code": "open('submission.csv', 'w').write('x')"},
                 {"name": "boom", "code": "raise ValueError('bad input')"},
                 {"name": "exits", "code": "import sys; sys.exit(3)"}]
    # one script under two settings lines (compiled once), and code whose first line is no statement of its own
    script = "\nimport sys\nopen('submission.csv', 'w').write(CFG['v'])\nif CFG['v'] == 'b':\n    1 / 0\n"
    solutions += [{"name": "a", "code": with_settings({"v": "a"}, script)},
                  {"name": "b", "code": with_settings({"v": "b"}, script)},
                  {"name": "multiline", "code": "if True:\n    open('submission.csv', 'w').write('m')\n"}]
    code = f"SOLUTIONS = {json.dumps(solutions)}\nTIMEOUT_S = 30.0\n{script_source('batch')}"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-800:]
    report = json.loads((tmp_path / "batch.json").read_text())
    assert [r["exit_code"] for r in report] == [0, 1, 3, 0, 1, 0]
    assert report[1]["error"] == "ValueError: bad input"
    assert report[4]["error"] == "ZeroDivisionError: division by zero"
    assert [(tmp_path / f"solution{i}" / "submission.csv").read_text() for i in (0, 3, 4, 5)] == ["x", "a", "b", "m"]
