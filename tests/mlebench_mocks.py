"""Mock MLE-bench prepared competitions, small and offline, in each lite competition's real
layout (as `mlebench prepare` writes it: file names, columns, id formats and the quirks of
each sample submission), plus an MLE-bench-checkout-like folder of Kaggle leaderboards.

    data_dir, checkout = build_mlebench(tmp_path, n_test=40)
    data_dir/<id>/prepared/public/...    data_dir/<id>/prepared/private/...
    checkout/mlebench/competitions/<id>/leaderboard.csv

`answers_of(data_dir, id)` and `sample_of(data_dir, id)` read a competition's answers and
sample submission back as (header, rows) of strings. `load_exported_grade(folder, helpers_root)`
imports an exported competition's grade.py as MLE-bench's registry imports a grade_fn.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from sandmle.sources.mlebench_lite import LITE

RANZCR_LABELS = ("ETT - Abnormal", "ETT - Borderline", "ETT - Normal", "NGT - Abnormal", "NGT - Borderline",
                 "NGT - Incompletely Imaged", "NGT - Normal", "CVC - Abnormal", "CVC - Borderline",
                 "CVC - Normal", "Swan Ganz Catheter Present")
JIGSAW_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
DOG_BREEDS = tuple("""affenpinscher afghan_hound african_hunting_dog airedale american_staffordshire_terrier appenzeller
australian_terrier basenji basset beagle bedlington_terrier bernese_mountain_dog black-and-tan_coonhound
blenheim_spaniel bloodhound bluetick border_collie border_terrier borzoi boston_bull
bouvier_des_flandres boxer brabancon_griffon briard brittany_spaniel bull_mastiff cairn cardigan
chesapeake_bay_retriever chihuahua chow clumber cocker_spaniel collie curly-coated_retriever
dandie_dinmont dhole dingo doberman english_foxhound english_setter english_springer entlebucher
eskimo_dog flat-coated_retriever french_bulldog german_shepherd german_short-haired_pointer
giant_schnauzer golden_retriever gordon_setter great_dane great_pyrenees greater_swiss_mountain_dog
groenendael ibizan_hound irish_setter irish_terrier irish_water_spaniel irish_wolfhound
italian_greyhound japanese_spaniel keeshond kelpie kerry_blue_terrier komondor kuvasz labrador_retriever
lakeland_terrier leonberg lhasa malamute malinois maltese_dog mexican_hairless miniature_pinscher
miniature_poodle miniature_schnauzer newfoundland norfolk_terrier norwegian_elkhound norwich_terrier
old_english_sheepdog otterhound papillon pekinese pembroke pomeranian pug redbone rhodesian_ridgeback
rottweiler saint_bernard saluki samoyed schipperke scotch_terrier scottish_deerhound sealyham_terrier
shetland_sheepdog shih-tzu siberian_husky silky_terrier soft-coated_wheaten_terrier
staffordshire_bullterrier standard_poodle standard_schnauzer sussex_spaniel tibetan_mastiff
tibetan_terrier toy_poodle toy_terrier vizsla walker_hound weimaraner welsh_springer_spaniel
west_highland_white_terrier whippet wire-haired_fox_terrier yorkshire_terrier""".split())   # Kaggle dog-breed-identification, in order
LEAF_SPECIES = tuple("""Acer_Capillipes Acer_Circinatum Acer_Mono Acer_Opalus Acer_Palmatum Acer_Pictum Acer_Platanoids
Acer_Rubrum Acer_Rufinerve Acer_Saccharinum Alnus_Cordata Alnus_Maximowiczii Alnus_Rubra
Alnus_Sieboldiana Alnus_Viridis Arundinaria_Simonii Betula_Austrosinensis Betula_Pendula
Callicarpa_Bodinieri Castanea_Sativa Celtis_Koraiensis Cercis_Siliquastrum Cornus_Chinensis
Cornus_Controversa Cornus_Macrophylla Cotinus_Coggygria Crataegus_Monogyna Cytisus_Battandieri
Eucalyptus_Glaucescens Eucalyptus_Neglecta Eucalyptus_Urnigera Fagus_Sylvatica Ginkgo_Biloba
Ilex_Aquifolium Ilex_Cornuta Liquidambar_Styraciflua Liriodendron_Tulipifera Lithocarpus_Cleistocarpus
Lithocarpus_Edulis Magnolia_Heptapeta Magnolia_Salicifolia Morus_Nigra Olea_Europaea Phildelphus
Populus_Adenopoda Populus_Grandidentata Populus_Nigra Prunus_Avium Prunus_X_Shmittii
Pterocarya_Stenoptera Quercus_Afares Quercus_Agrifolia Quercus_Alnifolia Quercus_Brantii
Quercus_Canariensis Quercus_Castaneifolia Quercus_Cerris Quercus_Chrysolepis Quercus_Coccifera
Quercus_Coccinea Quercus_Crassifolia Quercus_Crassipes Quercus_Dolicholepis Quercus_Ellipsoidalis
Quercus_Greggii Quercus_Hartwissiana Quercus_Ilex Quercus_Imbricaria Quercus_Infectoria_sub
Quercus_Kewensis Quercus_Nigra Quercus_Palustris Quercus_Phellos Quercus_Phillyraeoides Quercus_Pontica
Quercus_Pubescens Quercus_Pyrenaica Quercus_Rhysophylla Quercus_Rubra Quercus_Semecarpifolia
Quercus_Shumardii Quercus_Suber Quercus_Texana Quercus_Trojana Quercus_Variabilis Quercus_Vulcanica
Quercus_x_Hispanica Quercus_x_Turneri Rhododendron_x_Russellianum Salix_Fragilis Salix_Intergra
Sorbus_Aria Tilia_Oliveri Tilia_Platyphyllos Tilia_Tomentosa Ulmus_Bergmanniana Viburnum_Tinus
Viburnum_x_Rhytidophylloides Zelkova_Serrata""".split())   # Kaggle leaf-classification, in order
PLANT_CLASSES = ("healthy", "multiple_diseases", "rust", "scab")
AUTHORS = ("EAP", "HPL", "MWS")
NUM_TEAMS = 60
WORDS = ("the", "a", "you", "idiot", "great", "post", "thanks", "stupid", "nice", "really", "what", "is",
         "this", "\"quoted\"", "comma,", "naïve", "ok")


def csv_text(header, rows, quote_all: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def write_csv(path: Path, header, rows, quote_all: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(header, rows, quote_all), encoding="utf-8")


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    data = path.read_bytes()
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            data = archive.read(archive.namelist()[0])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def answers_of(data_dir: Path, competition_id: str):
    return read_csv_rows(data_dir / competition_id / "prepared" / "private" / LITE[competition_id].answers)


def sample_of(data_dir: Path, competition_id: str):
    return read_csv_rows(data_dir / competition_id / "prepared" / "public" / LITE[competition_id].sample_submission)


def _hex(rng, n: int, width: int) -> list[str]:
    return ["".join(rng.choice(list("0123456789abcdef"), width)) for _ in range(n)]


def _binary(rng, n: int) -> list[int]:
    y = [int(v) for v in rng.integers(0, 2, n)]
    y[0], y[1] = 0, 1
    return y


def _text(rng, words: int = 8) -> str:
    return " ".join(rng.choice(WORDS, words))


def _files(folder: Path, names, content: bytes = b"\x89PNG mock") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(content)


def _one_hot(labels, classes) -> list[list[int]]:
    return [[int(label == c) for c in classes] for label in labels]


class _Builder:
    def __init__(self, root: Path, n: int, seed: int) -> None:
        self.root, self.n = root, n
        self.rng = np.random.default_rng(seed)

    def dirs(self, competition_id: str) -> tuple[Path, Path]:
        public = self.root / competition_id / "prepared" / "public"
        private = self.root / competition_id / "prepared" / "private"
        public.mkdir(parents=True, exist_ok=True)
        private.mkdir(parents=True, exist_ok=True)
        (public / "description.md").write_text(f"# {LITE[competition_id].title}\n\nMock competition.\n")
        return public, private

    # -- binary AUC competitions with an id and one probability column ----------------------
    def aerial(self) -> None:
        pub, priv = self.dirs("aerial-cactus-identification")
        ids = [f"{h}.jpg" for h in _hex(self.rng, 2 * self.n, 32)]
        train, test = ids[self.n:], ids[:self.n]
        write_csv(pub / "train.csv", ["id", "has_cactus"], zip(train, _binary(self.rng, self.n)))
        write_csv(priv / "test.csv", ["id", "has_cactus"], zip(test, _binary(self.rng, self.n)))
        write_csv(pub / "sample_submission.csv", ["id", "has_cactus"], [[i, 0.5] for i in test])
        write_zip(pub / "train.zip", {f"train/{i}": b"jpg" for i in train})
        write_zip(pub / "test.zip", {f"test/{i}": b"jpg" for i in test})

    def histopathologic(self) -> None:
        pub, priv = self.dirs("histopathologic-cancer-detection")
        ids = _hex(self.rng, 2 * self.n, 40)
        write_csv(pub / "train_labels.csv", ["id", "label"], zip(ids[self.n:], _binary(self.rng, self.n)))
        write_csv(priv / "answers.csv", ["id", "label"], zip(ids[:self.n], _binary(self.rng, self.n)))
        write_csv(pub / "sample_submission.csv", ["id", "label"], [[i, 0] for i in ids[:self.n]])
        _files(pub / "train", [f"{i}.tif" for i in ids[self.n:]])
        _files(pub / "test", [f"{i}.tif" for i in ids[:self.n]])

    def insults(self) -> None:
        pub, priv = self.dirs("detecting-insults-in-social-commentary")
        comments = [f'"{_text(self.rng)} {k}"' for k in range(self.n)]
        comments[-1] = comments[0]                       # MLE-bench's answers repeat comments
        dates = [f"2012061{k % 10}192155Z" if k % 4 else "" for k in range(self.n)]
        y = _binary(self.rng, self.n)
        y[-1] = y[0]
        write_csv(pub / "train.csv", ["Insult", "Date", "Comment"],
                  [[v, "20120528192215Z", f'"{_text(self.rng)} train {k}"'] for k, v in enumerate(_binary(self.rng, self.n))])
        write_csv(priv / "test.csv", ["Insult", "Date", "Comment", "Usage"],
                  [[v, d, c, "PrivateTest"] for v, d, c in zip(y, dates, comments)])
        write_csv(pub / "test.csv", ["Date", "Comment"], zip(dates, comments))
        write_csv(pub / "sample_submission_null.csv", ["Insult", "Date", "Comment"],
                  [[0, d, c] for d, c in zip(dates, comments)])

    def mlsp(self) -> None:
        pub, priv = self.dirs("mlsp-2013-birds")
        recordings = max(3, self.n // 10)
        test_recs = list(range(recordings, 2 * recordings))
        rows = []
        for rec in test_recs:
            present = set(int(s) for s in self.rng.choice(19, 2, replace=False))
            rows += [[rec * 100 + s, int(s in present)] for s in range(19)]
        write_csv(priv / "answers.csv", ["Id", "Probability"], rows)
        write_csv(pub / "sample_submission.csv", ["Id", "Probability"], [[r[0], 0] for r in rows])
        ess = pub / "essential_data"
        write_csv(ess / "CVfolds_2.txt", ["rec_id", "fold"], [[r, int(r in test_recs)] for r in range(2 * recordings)])
        write_csv(ess / "rec_id2filename.txt", ["rec_id", "filename"], [[r, f"PC1_{r:04d}"] for r in range(2 * recordings)])
        (ess / "rec_labels_test_hidden.txt").write_text(
            "rec_id,[labels]\n" + "".join(f"{r},?\n" if r in test_recs else f"{r},{r % 19}\n"
                                         for r in range(2 * recordings)))
        (ess / "species_list.txt").write_text("class_id,code,species\n" + "".join(f"{s},SP{s},bird {s}\n" for s in range(19)))
        _files(ess / "src_wavs", [f"PC1_{r:04d}.wav" for r in range(2 * recordings)], b"RIFF mock")
        (pub / "supplemental_data").mkdir(exist_ok=True)

    def pizza(self) -> None:
        pub, priv = self.dirs("random-acts-of-pizza")
        ids = [f"t3_{h}" for h in _hex(self.rng, 2 * self.n, 6)]
        train = [{"request_id": i, "request_text_edit_aware": _text(self.rng), "requester_received_pizza": bool(v)}
                 for i, v in zip(ids[self.n:], _binary(self.rng, self.n))]
        (pub / "train.json").write_text(json.dumps(train, indent=4))
        (pub / "test.json").write_text(json.dumps([{"request_id": i, "request_text_edit_aware": _text(self.rng)}
                                                   for i in ids[:self.n]], indent=4))
        write_csv(priv / "test.csv", ["request_id", "requester_received_pizza"], zip(ids[:self.n], _binary(self.rng, self.n)))
        write_csv(pub / "sampleSubmission.csv", ["request_id", "requester_received_pizza"], [[i, 0] for i in ids[:self.n]])

    def siim(self) -> None:
        pub, priv = self.dirs("siim-isic-melanoma-classification")
        names = [f"ISIC_{k:07d}" for k in self.rng.choice(10 ** 6, 2 * self.n, replace=False)]
        meta = lambda name: [name, f"IP_{name[-4:]}", "male", 45.0, "torso"]     # noqa: E731
        write_csv(pub / "train.csv", ["image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge",
                                      "diagnosis", "benign_malignant", "target"],
                  [meta(nm) + ["nevus", "benign" if v == 0 else "malignant", v]
                   for nm, v in zip(names[self.n:], _binary(self.rng, self.n))])
        write_csv(pub / "test.csv", ["image_name", "patient_id", "sex", "age_approx", "anatom_site_general_challenge"],
                  [meta(nm) for nm in names[:self.n]])
        write_csv(priv / "test.csv", ["image_name", "target"], zip(names[:self.n], _binary(self.rng, self.n)))
        write_csv(pub / "sample_submission.csv", ["image_name", "target"], [[nm, 0] for nm in names[:self.n]])
        _files(pub / "jpeg" / "test", [f"{nm}.jpg" for nm in names[:self.n]])

    def tps_may(self) -> None:
        pub, priv = self.dirs("tabular-playground-series-may-2022")
        features = [f"f_{j:02d}" for j in range(5)] + ["f_27"]
        def row(i):
            return [i, *np.round(self.rng.normal(size=5), 6).tolist(), "".join(self.rng.choice(list("ABCD"), 10))]
        train_ids, test_ids = range(self.n), range(self.n, 2 * self.n)
        write_csv(pub / "train.csv", ["id", *features, "target"],
                  [row(i) + [v] for i, v in zip(train_ids, _binary(self.rng, self.n))])
        write_csv(pub / "test.csv", ["id", *features], [row(i) for i in test_ids])
        y = _binary(self.rng, self.n)
        write_csv(priv / "test.csv", ["id", *features, "target"], [row(i) + [v] for i, v in zip(test_ids, y)])
        write_csv(priv / "gold_submission.csv", ["id", "target"], zip(test_ids, y))
        write_csv(pub / "sample_submission.csv", ["id", "target"], [[i, 0.5] for i in test_ids])

    def whale(self) -> None:
        pub, priv = self.dirs("the-icml-2013-whale-challenge-right-whale-redux")
        clips = [f"20090330_{k:06d}_{k % 60:03d}s0ms_Test{k}.aif" for k in range(self.n)]
        write_csv(priv / "test.csv", ["clip", "probability"], zip(clips, _binary(self.rng, self.n)))
        write_csv(pub / "sampleSubmission.csv", ["clip", "probability"], [[c, 0] for c in clips])
        write_zip(pub / "train2.zip", {f"train2/20090328_{k:06d}_TRAIN{k}_{k % 2}.aif": b"FORM" for k in range(self.n)})
        write_zip(pub / "test2.zip", {f"test2/{c}": b"FORM" for c in clips})

    # -- the others ------------------------------------------------------------------------
    def aptos(self) -> None:
        pub, priv = self.dirs("aptos2019-blindness-detection")
        ids = _hex(self.rng, 2 * self.n, 12)
        grades = [int(g) for g in self.rng.integers(0, 5, self.n)]
        write_csv(pub / "train.csv", ["id_code", "diagnosis"], zip(ids[self.n:], self.rng.integers(0, 5, self.n).tolist()))
        write_csv(pub / "test.csv", ["id_code"], [[i] for i in ids[:self.n]])
        write_csv(priv / "test.csv", ["id_code", "diagnosis"], zip(ids[:self.n], grades))
        write_csv(pub / "sample_submission.csv", ["id_code", "diagnosis"], [[i, 0] for i in ids[:self.n]])
        _files(pub / "train_images", [f"{i}.png" for i in ids[self.n:]])
        _files(pub / "test_images", [f"{i}.png" for i in ids[:self.n]])

    def denoising(self) -> None:
        pub, priv = self.dirs("denoising-dirty-documents")
        images, side = 2, max(3, int(np.sqrt(self.n / 2)))
        ids = [f"{img}_{r}_{c}" for img in (1, 12)[:images] for r in range(1, side + 1) for c in range(1, side + 1)]
        write_csv(priv / "answers.csv", ["id", "value"], [[i, float(v)] for i, v in zip(ids, self.rng.random(len(ids)))])
        write_csv(pub / "sampleSubmission.csv", ["id", "value"], [[i, 1] for i in ids])
        _files(pub / "train", ["2.png", "3.png"])
        _files(pub / "train_cleaned", ["2.png", "3.png"])
        _files(pub / "test", ["1.png", "12.png"])

    def dog_breed(self) -> None:
        pub, priv = self.dirs("dog-breed-identification")
        ids = _hex(self.rng, 2 * self.n, 32)
        labels = list(self.rng.choice(DOG_BREEDS, self.n))
        write_csv(pub / "labels.csv", ["id", "breed"], zip(ids[self.n:], self.rng.choice(DOG_BREEDS, self.n)))
        write_csv(priv / "test.csv", ["id", *DOG_BREEDS], [[i, *r] for i, r in zip(ids[:self.n], _one_hot(labels, DOG_BREEDS))])
        write_csv(pub / "sample_submission.csv", ["id", *DOG_BREEDS], [[i] + [1 / 120] * 120 for i in ids[:self.n]])
        _files(pub / "train", [f"{i}.jpg" for i in ids[self.n:]])
        _files(pub / "test", [f"{i}.jpg" for i in ids[:self.n]])

    def dogs_vs_cats(self) -> None:
        pub, priv = self.dirs("dogs-vs-cats-redux-kernels-edition")
        write_csv(priv / "answers.csv", ["id", "label"], zip(range(1, self.n + 1), _binary(self.rng, self.n)))
        write_csv(pub / "sample_submission.csv", ["id", "label"], [[i, 0.5] for i in range(1, self.n + 1)])
        write_zip(pub / "train.zip", {f"train/{kind}.{k}.jpg": b"jpg" for kind in ("cat", "dog") for k in range(3)})
        write_zip(pub / "test.zip", {f"test/{i}.jpg": b"jpg" for i in range(1, self.n + 1)})

    def jigsaw(self) -> None:
        pub, priv = self.dirs("jigsaw-toxic-comment-classification-challenge")
        ids = _hex(self.rng, 2 * self.n, 16)
        train_y = self.rng.integers(0, 2, (self.n, 6))
        write_csv(pub / "train.csv", ["id", "comment_text", *JIGSAW_LABELS],
                  [[i, _text(self.rng), *y] for i, y in zip(ids[self.n:], train_y.tolist())])
        write_csv(pub / "test.csv", ["id", "comment_text"], [[i, _text(self.rng)] for i in ids[:self.n]])
        y = self.rng.integers(0, 2, (self.n, 6))
        y[:2] = [[0] * 6, [1] * 6]
        y[2::5] = -1                                   # rows Kaggle never scored
        write_csv(priv / "test.csv", ["id", *JIGSAW_LABELS], [[i, *r] for i, r in zip(ids[:self.n], y.tolist())])
        write_csv(pub / "sample_submission.csv", ["id", *JIGSAW_LABELS], [[i] + [0.5] * 6 for i in ids[:self.n]])

    def leaf(self) -> None:
        pub, priv = self.dirs("leaf-classification")
        ids = self.rng.permutation(np.arange(1, 2 * self.n + 1)).tolist()
        features = [f"{kind}{j}" for kind in ("margin", "shape", "texture") for j in (1, 2)]
        rows = lambda idx: [[i, *np.round(self.rng.random(6), 6).tolist()] for i in idx]     # noqa: E731
        train = rows(ids[self.n:])
        write_csv(pub / "train.csv", ["id", "species", *features],
                  [[r[0], s, *r[1:]] for r, s in zip(train, self.rng.choice(LEAF_SPECIES, self.n))])
        write_csv(pub / "test.csv", ["id", *features], rows(ids[:self.n]))
        labels = list(self.rng.choice(LEAF_SPECIES, self.n))
        write_csv(priv / "test.csv", ["id", *LEAF_SPECIES], [[i, *r] for i, r in zip(ids[:self.n], _one_hot(labels, LEAF_SPECIES))])
        write_csv(pub / "sample_submission.csv", ["id", *LEAF_SPECIES], [[i] + [1 / 99] * 99 for i in ids[:self.n]])
        _files(pub / "images", [f"{i}.jpg" for i in ids])

    def nyc_taxi(self) -> None:
        pub, priv = self.dirs("new-york-city-taxi-fare-prediction")
        columns = ["pickup_datetime", "pickup_longitude", "pickup_latitude", "dropoff_longitude",
                   "dropoff_latitude", "passenger_count"]
        def ride(k):
            t = f"2013-0{1 + k % 9}-{10 + k % 18} {k % 24:02d}:{k % 60:02d}:{(7 * k) % 60:02d}"
            lon, lat = -73.98 + self.rng.normal() * 0.02, 40.75 + self.rng.normal() * 0.02
            return [f"{t}.000000{k % 9 + 1}", f"{t} UTC", round(lon, 6), round(lat, 6), round(lon + 0.01, 6),
                    round(lat - 0.01, 6), int(1 + k % 4)]
        train = [ride(k) for k in range(self.n)]
        test = [ride(k) for k in range(self.n, 2 * self.n)]
        fares = np.round(self.rng.uniform(3, 60, 2 * self.n), 2).tolist()
        write_csv(pub / "labels.csv", ["key", "fare_amount", *columns], [[r[0], f, *r[1:]] for r, f in zip(train, fares)])
        write_csv(pub / "test.csv", ["key", *columns], test)
        write_csv(priv / "test.csv", ["key", "fare_amount", *columns],
                  [[r[0], f, *r[1:]] for r, f in zip(test, fares[self.n:])])
        write_csv(pub / "sample_submission.csv", ["key", "fare_amount"], [[r[0], 11.35] for r in test])

    def nomad(self) -> None:
        pub, priv = self.dirs("nomad2018-predict-transparent-conductors")
        features = ["spacegroup", "number_of_total_atoms", "percent_atom_al", "percent_atom_ga", "percent_atom_in"]
        def rows(count):
            return [[int(self.rng.choice([12, 33, 167])), 80.0, *np.round(self.rng.dirichlet([1, 1, 1]), 4).tolist()]
                    for _ in range(count)]
        targets = np.round(np.c_[self.rng.uniform(0, 0.5, 2 * self.n), self.rng.uniform(0.5, 5, 2 * self.n)], 4).tolist()
        train, test = rows(self.n), rows(self.n)
        write_csv(pub / "train.csv", ["id", *features, "formation_energy_ev_natom", "bandgap_energy_ev"],
                  [[k + 1, *r, *t] for k, (r, t) in enumerate(zip(train, targets))])
        write_csv(pub / "test.csv", ["id", *features], [[k + 1, *r] for k, r in enumerate(test)])
        write_csv(priv / "test.csv", ["id", *features, "formation_energy_ev_natom", "bandgap_energy_ev"],
                  [[k + 1, *r, *t] for k, (r, t) in enumerate(zip(test, targets[self.n:]))])
        write_csv(pub / "sample_submission.csv", ["id", "formation_energy_ev_natom", "bandgap_energy_ev"],
                  [[k + 1, 0.1779, 1.8892] for k in range(self.n)])
        for k in range(3):
            (pub / "train" / str(k + 1)).mkdir(parents=True, exist_ok=True)
            (pub / "train" / str(k + 1) / "geometry.xyz").write_text("lattice_vector 1 0 0\n")

    def plant(self) -> None:
        pub, priv = self.dirs("plant-pathology-2020-fgvc7")
        def labels(count):
            return _one_hot(list(self.rng.choice(PLANT_CLASSES, count)), PLANT_CLASSES)
        test_ids = [f"Test_{k}" for k in range(self.n)]
        write_csv(pub / "train.csv", ["image_id", *PLANT_CLASSES], [[f"Train_{k}", *r] for k, r in enumerate(labels(self.n))])
        write_csv(pub / "test.csv", ["image_id"], [[i] for i in test_ids])
        y = labels(self.n)
        for j in range(4):                             # every class present in the answers
            y[j] = [int(c == j) for c in range(4)]
        write_csv(priv / "test.csv", ["image_id", *PLANT_CLASSES], [[i, *r] for i, r in zip(test_ids, y)])
        write_csv(pub / "sample_submission.csv", ["image_id", *PLANT_CLASSES], [[i, 0.25, 0.25, 0.25, 0.25] for i in test_ids])
        _files(pub / "images", [f"{i}.jpg" for i in test_ids[:3]])

    def ranzcr(self) -> None:
        pub, priv = self.dirs("ranzcr-clip-catheter-line-classification")
        uids = [f"1.2.826.0.1.3680043.8.498.{k}" for k in self.rng.choice(10 ** 11, 2 * self.n, replace=False)]
        def rows(idx, y):
            return [[u, *r, f"ec{k % 7:05d}"] for k, (u, r) in enumerate(zip(idx, y))]
        y_train = self.rng.integers(0, 2, (self.n, 11)).tolist()
        y = self.rng.integers(0, 2, (self.n, 11))
        y[:2] = [[0] * 11, [1] * 11]
        write_csv(pub / "train.csv", ["StudyInstanceUID", *RANZCR_LABELS, "PatientID"], rows(uids[self.n:], y_train))
        write_csv(pub / "train_annotations.csv", ["StudyInstanceUID", "label", "data"], [[uids[-1], "CVC - Normal", "[[1, 2]]"]])
        write_csv(priv / "test.csv", ["StudyInstanceUID", *RANZCR_LABELS, "PatientID"], rows(uids[:self.n], y.tolist()))
        write_csv(pub / "sample_submission.csv", ["StudyInstanceUID", *RANZCR_LABELS[:9]], [[u] + [0] * 9 for u in uids[:self.n]])
        _files(pub / "test", [f"{u}.jpg" for u in uids[:3]])

    def spooky(self) -> None:
        pub, priv = self.dirs("spooky-author-identification")
        ids = [f"id{k:05d}" for k in self.rng.choice(99999, 2 * self.n, replace=False)]
        write_csv(pub / "train.csv", ["id", "text", "author"],
                  [[i, _text(self.rng, 12), a] for i, a in zip(ids[self.n:], self.rng.choice(AUTHORS, self.n))])
        write_csv(pub / "test.csv", ["id", "text"], [[i, _text(self.rng, 12)] for i in ids[:self.n]])
        labels = list(self.rng.choice(AUTHORS, self.n))
        write_csv(priv / "test.csv", ["id", *AUTHORS], [[i, *r] for i, r in zip(ids[:self.n], _one_hot(labels, AUTHORS))])
        write_csv(pub / "sample_submission.csv", ["id", *AUTHORS],
                  [[i, 0.403493538995863, 0.287808366106543, 0.308698094897594] for i in ids[:self.n]])

    def tps_dec(self) -> None:
        pub, priv = self.dirs("tabular-playground-series-dec-2021")
        features = ["Elevation", "Aspect", "Slope", "Soil_Type1"]
        def rows(idx):
            return [[i, int(self.rng.integers(2000, 3500)), int(self.rng.integers(0, 360)),
                     int(self.rng.integers(0, 50)), int(self.rng.integers(0, 2))] for i in idx]
        train_ids, test_ids = range(self.n), range(self.n, 2 * self.n)
        write_csv(pub / "train.csv", ["Id", *features, "Cover_Type"],
                  [r + [int(c)] for r, c in zip(rows(train_ids), self.rng.integers(1, 8, self.n))])
        test = rows(test_ids)
        write_csv(pub / "test.csv", ["Id", *features], test)
        write_csv(priv / "test.csv", ["Id", *features, "Cover_Type"],
                  [r + [int(c)] for r, c in zip(test, self.rng.integers(1, 8, self.n))])
        write_csv(pub / "sample_submission.csv", ["Id", "Cover_Type"], [[i, 2] for i in test_ids])

    def text_normalization(self, lang: str) -> None:
        cid = f"text-normalization-challenge-{'english' if lang == 'en' else 'russian'}-language"
        pub, priv = self.dirs(cid)
        tokens = (["Hello", "world", ".", "12", "NA", "null", "1995", "Dr.", "3.5", "N/A", "", "kg", "<NA>", "n/a"]
                  if lang == "en" else ["Привет", "мир", ".", "12", "NA", "null", "1995", "г.", "3,5", "None", ""])
        spoken = {"12": "twelve", "1995": "nineteen ninety five", "Dr.": "doctor", "3.5": "three point five",
                  "kg": "kilograms", "3,5": "три целых пять", "г.": "года"}
        rows_train, rows_test = [], []
        for sentence in range(2 * max(2, self.n // 6)):
            for token in range(6):
                before = str(self.rng.choice(tokens))
                (rows_train if sentence % 2 else rows_test).append((sentence // 2, token, before, spoken.get(before, before)))
        train = [[s, t, "PLAIN", b, a] for s, t, b, a in rows_train]
        train_csv = csv_text(["sentence_id", "token_id", "class", "before", "after"], train, quote_all=True)
        test_csv = csv_text(["sentence_id", "token_id", "before"], [[s, t, b] for s, t, b, _ in rows_test], quote_all=True)
        sample = [[f"{s}_{t}", b] for s, t, b, _ in rows_test]
        write_zip(pub / f"{lang}_train.csv.zip", {f"{lang}_train.csv": train_csv.encode()})
        write_zip(pub / f"{lang}_test_2.csv.zip", {f"{lang}_test_2.csv": test_csv.encode()})
        write_zip(pub / f"{lang}_sample_submission_2.csv.zip",
                  {f"{lang}_sample_submission_2.csv": csv_text(["id", "after"], sample, quote_all=True).encode()})
        write_csv(priv / "answers.csv", ["id", "after"], [[f"{s}_{t}", a] for s, t, _, a in rows_test], quote_all=True)
        write_csv(priv / "sample_submission.csv", ["id", "after"], sample, quote_all=True)


_BUILDERS = {
    "aerial-cactus-identification": "aerial", "aptos2019-blindness-detection": "aptos",
    "denoising-dirty-documents": "denoising", "detecting-insults-in-social-commentary": "insults",
    "dog-breed-identification": "dog_breed", "dogs-vs-cats-redux-kernels-edition": "dogs_vs_cats",
    "histopathologic-cancer-detection": "histopathologic", "jigsaw-toxic-comment-classification-challenge": "jigsaw",
    "leaf-classification": "leaf", "mlsp-2013-birds": "mlsp", "new-york-city-taxi-fare-prediction": "nyc_taxi",
    "nomad2018-predict-transparent-conductors": "nomad", "plant-pathology-2020-fgvc7": "plant",
    "random-acts-of-pizza": "pizza", "ranzcr-clip-catheter-line-classification": "ranzcr",
    "siim-isic-melanoma-classification": "siim", "spooky-author-identification": "spooky",
    "tabular-playground-series-dec-2021": "tps_dec", "tabular-playground-series-may-2022": "tps_may",
    "text-normalization-challenge-english-language": ("text_normalization", "en"),
    "text-normalization-challenge-russian-language": ("text_normalization", "ru"),
    "the-icml-2013-whale-challenge-right-whale-redux": "whale",
}

# (best, worst) leaderboard scores of each metric, so medals and HumanRank spread out
_SCORE_RANGE = {"auc": (0.99, 0.5), "mean_column_auc": (0.99, 0.5), "qwk": (0.93, 0.0), "accuracy": (0.99, 0.3),
                "log_loss": (0.03, 0.69), "multiclass_log_loss": (0.1, 4.8), "rmse": (0.02, 9.0),
                "mean_column_rmsle": (0.05, 0.4)}


def write_leaderboard(path: Path, metric: str, num_teams: int = NUM_TEAMS) -> None:
    """A Kaggle leaderboard as MLE-bench stores it: best first, a `score` column."""
    best, worst = _SCORE_RANGE[metric]
    scores = np.linspace(best, worst, num_teams)
    write_csv(path, ["scoreNullable", "teamId", "teamName", "hasTeamName", "submissionDate", "score", "hasScore"],
              [[repr(float(s)), 1000 + k, f"team {k}", True, "2020-01-01 00:00:00", repr(float(s)), True]
               for k, s in enumerate(scores)])


def build_mlebench(root: Path, n_test: int = 40, seed: int = 0, competitions=None) -> tuple[Path, Path]:
    """(data_dir, checkout) with every lite competition (or `competitions`) prepared."""
    data_dir, checkout = root / "mlebench-data", root / "mle-bench"
    builder = _Builder(data_dir, n_test, seed)
    for competition_id in competitions or LITE:
        how = _BUILDERS[competition_id]
        method, *args = how if isinstance(how, tuple) else (how,)
        getattr(builder, method)(*args)
        write_leaderboard(checkout / "mlebench" / "competitions" / competition_id / "leaderboard.csv",
                          LITE[competition_id].metric)
    return data_dir, checkout


def load_exported_grade(competition_dir: Path, helpers_root: Path):
    """(grade, InvalidSubmissionError) of an exported competition folder's grade.py, imported
    with a stand-in `mlebench.grade_helpers` (MLE-bench is not a test dependency): its
    InvalidSubmissionError is all the exported module uses of it."""
    import importlib.util
    import sys

    package = helpers_root / "mlebench"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "grade_helpers.py").write_text("class InvalidSubmissionError(Exception):\n    pass\n")
    sys.path.insert(0, str(helpers_root))
    try:
        name = "exported_" + competition_dir.name.replace("-", "_")
        spec = importlib.util.spec_from_file_location(name, competition_dir / "grade.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from mlebench.grade_helpers import InvalidSubmissionError
        assert issubclass(module.InvalidSubmission, InvalidSubmissionError)
    finally:
        sys.path.remove(str(helpers_root))
        for name in ("mlebench.grade_helpers", "mlebench"):
            sys.modules.pop(name, None)
    return module.grade, InvalidSubmissionError
