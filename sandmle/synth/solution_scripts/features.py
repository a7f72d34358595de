"""Features of a row-per-id task's inputs, for the reference solutions (`predict.py`).

`features(train, test, id_column)` -> (x_train, x_test): numpy arrays, or scipy CSR matrices
when text n-grams are among the blocks (dense blocks then standardised). `CFG` picks each
block: `tabular` (onehot, ordinal, numeric, first_numeric, none; datetimes as hour, weekday,
month, day of year), `text` (word1, word12, char, count1, count12, length, none), `image`
(pixels, hist, edges, all, object, object+hist, none: input/images/<id>.png) and `audio`
(bands, spectro, stats, all, calls, calls+bands, none: input/audio/<id>.wav). Inlined into
the script a sandbox job runs; imported as a module by the tests.
"""
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from sandmle.synth.solution_scripts.cache import FEATURE_CACHE, cached

CFG: dict = globals().get("CFG", {})   # the settings line `CFG = {...}` binds them first
INPUT = Path("input")


def read(name):
    """A table of ./input/; the id column stays text exactly as written ("0003" is not 3).
    Read once per process; each caller gets its own copy."""
    idc = CFG.get("id_column")

    def load():
        header = pd.read_csv(INPUT / name, nrows=0).columns
        dtype = {idc: str} if idc in header else None
        return pd.read_csv(INPUT / name, keep_default_na=True, na_values=[""], dtype=dtype)
    return cached(("csv", str((INPUT / name).resolve()), idc), load).copy()


def column_roles(train, test, idc):
    roles = {}
    for c in test.columns:
        if c == idc:
            continue
        s = train[c]
        if pd.api.types.is_numeric_dtype(s):
            roles[c] = "numeric"
            continue
        sample = s.dropna().astype(str)
        if len(sample) and sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() > 0.9:
            roles[c] = "datetime"
        elif len(sample) and sample.str.count(" ").mean() >= 3:
            roles[c] = "text"
        else:
            roles[c] = "categorical"
    return roles


def tabular_block(train, test, roles, mode):
    if mode == "none":
        return None, None
    blocks_tr, blocks_te = [], []
    for c, role in roles.items():
        if role == "numeric":
            blocks_tr.append(train[[c]].to_numpy(float))
            blocks_te.append(test[[c]].to_numpy(float))
            if mode == "first_numeric":
                break
        elif role == "datetime" and mode != "first_numeric":
            for frame, out in ((train, blocks_tr), (test, blocks_te)):
                t = pd.to_datetime(frame[c], errors="coerce")
                out.append(np.stack([t.dt.hour + t.dt.minute / 60, t.dt.day_of_week, t.dt.month,
                                     t.dt.day_of_year], axis=1).astype(float))
        elif role == "categorical" and mode in ("onehot", "ordinal"):
            tr = train[c].fillna("NA").astype(str)
            te = test[c].fillna("NA").astype(str)
            levels = sorted(tr.unique())
            if mode == "onehot":
                blocks_tr.append(np.stack([(tr == v).to_numpy(float) for v in levels], axis=1))
                blocks_te.append(np.stack([(te == v).to_numpy(float) for v in levels], axis=1))
            else:
                index = {v: i for i, v in enumerate(levels)}
                blocks_tr.append(tr.map(index).to_numpy(float)[:, None])
                blocks_te.append(te.map(index).fillna(-1).to_numpy(float)[:, None])
    if not blocks_tr:
        return None, None
    xtr, xte = np.hstack(blocks_tr), np.hstack(blocks_te)
    med = np.nanmedian(np.where(np.isfinite(xtr), xtr, np.nan), axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    xtr = np.where(np.isfinite(xtr), xtr, med)
    xte = np.where(np.isfinite(xte), xte, med)
    return xtr, xte


def text_block(train, test, roles, spec):
    cols = [c for c, r in roles.items() if r == "text"]
    if not cols or spec == "none":
        return None, None
    tr, te = joined_text(train, cols), joined_text(test, cols)
    return cached(("text", spec, hash(tuple(tr)), hash(tuple(te))), lambda: text_matrices(tr, te, spec))


def joined_text(frame, cols):
    """Each row's text columns joined by a space, as `frame[cols].fillna("").astype(str)
    .agg(" ".join, axis=1)` joins them, column by column instead of row by row (0.3 s per
    solution on a 3000-row table row by row)."""
    text = frame[cols[0]].fillna("").astype(str)
    for c in cols[1:]:
        text = text + " " + frame[c].fillna("").astype(str)
    return text


# Word n-gram blocks: tf-idf weights and binary presence of the same n-grams, both from
# the counts of one tokenisation (`ngram_counts`).
WORD_BLOCKS = {"word1": ("tfidf", (1, 1)), "word12": ("tfidf", (1, 2)),
               "count1": ("binary", (1, 1)), "count12": ("binary", (1, 2))}


def text_matrices(tr, te, spec):
    if spec == "length":
        f = lambda s: np.stack([s.str.len(), s.str.count(" ") + 1, s.str.count("!")], axis=1).astype(float)
        return f(tr), f(te)
    from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer
    if spec == "char":
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        return vec.fit_transform(tr), vec.transform(te)
    if spec not in WORD_BLOCKS:
        raise ValueError(spec)
    weighting, ngrams = WORD_BLOCKS[spec]
    counts_tr, counts_te = ngram_counts(tr, te, ngrams)
    if weighting == "binary":       # CountVectorizer(binary=True): each present n-gram as 1
        return tuple(sparse.csr_matrix((np.ones(c.nnz, dtype=np.int64), c.indices.copy(), c.indptr.copy()),
                                       shape=c.shape) for c in (counts_tr, counts_te))
    tfidf = TfidfTransformer(sublinear_tf=True)     # TfidfVectorizer(ngram_range=ngrams, sublinear_tf=True)
    return tfidf.fit_transform(counts_tr), tfidf.transform(counts_te)


def ngram_counts(tr, te, ngrams):
    """Word n-gram counts (float64 CSR) of the train and test texts over the train texts'
    vocabulary, as TfidfVectorizer counts them before weighting: tokenised once per process
    for the tf-idf and the binary block of the same n-grams (tokenising is most of a text
    block's time). Callers never modify them."""
    def make():
        from sklearn.feature_extraction.text import CountVectorizer
        vec = CountVectorizer(ngram_range=ngrams, dtype=np.float64)
        return vec.fit_transform(tr), vec.transform(te)
    return cached(("ngram counts", ngrams, hash(tuple(tr)), hash(tuple(te))), make)


IMAGE_PARTS = {"pixels": ("pixels",), "hist": ("hist",), "edges": ("edges",), "all": ("pixels", "hist", "edges"),
               "object": ("object",), "object+hist": ("object", "hist")}


def image_vector(path, spec, key=None):
    """An image's features for `spec` (IMAGE_PARTS): each part computed once per process.
    `key`: the file's resolved path, when the caller knows it (resolving a path through the
    job's ./input link costs ~2 ms, as much as some features)."""
    key = key or str(Path(path).resolve())
    return np.concatenate([cached(("image", part, key), lambda part=part: image_part(path, part, key))
                           for part in IMAGE_PARTS[spec]])


def image_part(path, part, key=None):
    from PIL import Image
    img = cached(("png", key or str(Path(path).resolve())), lambda: _decoded(path))
    if part == "pixels":
        small = np.asarray(Image.fromarray(img).resize((8, 8), Image.BILINEAR), dtype=float) / 255.0
        return small.ravel()
    return image_statistics(np.asarray(img, dtype=float)[None] / 255.0, part)[0]


def image_statistics(rgb, part):
    """The "hist", "edges" or "object" features of each image of `rgb` (images of one size,
    shape (images, h, w, 3), values in [0, 1]) -> (images, features). Image by image the same
    numbers as one image at a time: every histogram, gradient, sum, mean, median and
    morphology runs within an image, in the same order."""
    n, h, w, _ = rgb.shape
    if part == "object":
        return object_features(rgb)
    if part == "hist":
        feats = [histograms(rgb[:, :, :, ch], 8, 1.0) / (h * w) for ch in range(3)]
        pixels = rgb.reshape(n, -1, 3)
        feats += [pixels.mean(axis=1), pixels.std(axis=1)]
        return np.concatenate(feats, axis=1)
    grey = rgb.mean(axis=3)
    gy, gx = np.gradient(grey, axis=(1, 2))
    mag = np.hypot(gx, gy)
    ang = np.arctan2(gy, gx) % np.pi
    feats = []
    for sy in (slice(0, h // 2), slice(h // 2, h)):
        for sx in (slice(0, w // 2), slice(w // 2, w)):
            feats.append(histograms(ang[:, sy, sx], 6, np.pi, weights=mag[:, sy, sx]))
    mags, greys = mag.reshape(n, -1), grey.reshape(n, -1)
    feats.append(np.stack([mags.mean(axis=1), mags.std(axis=1), (mags > 0.15).mean(axis=1), greys.mean(axis=1),
                           greys.std(axis=1)], axis=1))
    centre = grey[:, h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    feats.append(np.stack([centre.mean(axis=(1, 2)) - greys.mean(axis=1), centre.std(axis=(1, 2))], axis=1))
    return np.concatenate(feats, axis=1)


IMAGES_PER_BATCH = 256      # images featurised together: numpy's per-call overhead is most of a small image's time


def precompute_images(paths, keys, parts):
    """Fill the cache with the `parts` (IMAGE_PARTS) of the images not yet done but "pixels",
    IMAGES_PER_BATCH images of one size at a time (`image_vector` then finds them)."""
    for part in parts:
        if part == "pixels":
            continue
        todo: dict = {}
        for path, key in zip(paths, keys):
            if ("image", part, key) not in FEATURE_CACHE:
                img = cached(("png", key), lambda path=path: _decoded(path))
                todo.setdefault(img.shape, []).append((key, img))
        for items in todo.values():
            for i in range(0, len(items), IMAGES_PER_BATCH):
                chunk = items[i:i + IMAGES_PER_BATCH]
                rows = image_statistics(np.stack([img for _, img in chunk]).astype(float) / 255.0, part)
                for (key, _), row in zip(chunk, rows):
                    FEATURE_CACHE[("image", part, key)] = row


_EDGES: dict = {}      # (bins, upper) -> bin edges


def histograms(values, bins, upper, weights=None):
    """`np.histogram(v, bins, range=(0, upper), weights=w)[0]` of each entry `v` along the
    first axis of `values` (and `w` of `weights`) -> (entries, bins), for values in [0, upper]:
    computed the same way (the same bin of every value, the same sums, in the same order)
    without its per-call checks, all entries in one bincount."""
    n = values.shape[0]
    values = values.reshape(n, -1)
    edges = _EDGES.get((bins, upper))
    if edges is None:
        edges = _EDGES[(bins, upper)] = np.linspace(0.0, upper, bins + 1)
    index = (values * (bins / upper)).astype(np.intp)
    index[index == bins] -= 1
    index[values < edges[index]] -= 1
    index[(values >= edges[index + 1]) & (index != bins - 1)] += 1
    index += bins * np.arange(n)[:, None]           # each entry's bins of its own
    counts = np.bincount(index.ravel(), weights=None if weights is None else weights.reshape(n, -1).ravel(),
                         minlength=n * bins).reshape(n, bins)
    return counts if weights is None else counts.astype(float)


def _decoded(path):
    from PIL import Image
    img = Image.open(path)
    img.load()
    return np.asarray(img.convert("RGB"))


_CROSS: list = []     # scipy.ndimage's default 2-D structure (4-connectivity), made once


def object_features(rgb):
    """Segment the object from the background of each image of `rgb` (images of one size,
    shape (images, h, w, 3)) and describe it: colour, size, elongation, stripe texture, dark
    spots and the background's brightness -> (images, 12). The background, the threshold and
    the morphology run on all the images at once (a structure with no extent across images,
    so each image is opened and closed as alone), the components image by image. The
    morphology gets scipy.ndimage's default 2-D structure made once, and the components are
    sized by a bincount (the same sizes as `ndimage.sum` of the mask per label)."""
    from scipy import ndimage
    if not _CROSS:
        _CROSS.append(ndimage.generate_binary_structure(2, 1))
    cross = _CROSS[0]
    flat = cross[None]                      # the same structure within each image of a stack
    border = np.concatenate([rgb[:, 0], rgb[:, -1], rgb[:, :, 0], rgb[:, :, -1]], axis=1)
    backgrounds = np.median(border, axis=1)
    distance = np.abs(rgb - backgrounds[:, None, None, :]).sum(axis=3)
    cut = np.maximum(0.12, 0.5 * np.percentile(distance.reshape(len(rgb), -1), 90, axis=1))
    masks = ndimage.binary_closing(ndimage.binary_opening(distance > cut[:, None, None], flat), flat, iterations=2)
    greys = rgb.mean(axis=3)
    out = []
    for image, background, mask, grey_image in zip(rgb, backgrounds, masks, greys):
        labels, count = ndimage.label(mask, cross)
        if count == 0:
            out.append(np.concatenate([background, np.zeros(3), np.zeros(6)]))
            continue
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        mask = labels == (int(np.argmax(sizes)) + 1)
        mask = ndimage.binary_fill_holes(mask, cross)
        ys, xs = np.nonzero(mask)
        inside = image[mask]
        colour = np.median(inside, axis=0)
        grey = inside.mean(axis=1)
        level = np.median(grey)
        dark = (grey_image < 0.55 * level) & mask
        spots = ndimage.label(dark, cross)[1]
        lit = grey[grey > 0.55 * level]
        stripes = lit.std() / (level + 1e-6) if len(lit) > 2 else 0.0
        out.append(np.concatenate([background, colour, [np.sqrt(mask.mean()), np.log((xs.std() + 0.5) / (ys.std() + 0.5)),
                                                        stripes, spots, dark.sum() / mask.sum(), background.mean()]]))
    return np.stack(out)


def image_block(train, test, idc, spec):
    return _media_block(train, test, idc, spec, "images", ".png", precompute_images, IMAGE_PARTS, image_vector)


def _media_block(train, test, idc, spec, folder_name, suffix, precompute, parts, vector):
    """(train, test) feature matrices of the media files named by the id column, each file's
    features computed in batches first (`precompute`), then stacked; (None, None) without
    the folder or with spec "none"."""
    folder = INPUT / folder_name
    if spec == "none" or not folder.is_dir():
        return None, None
    root = folder.resolve()
    out = []
    for frame in (train, test):
        ids = frame[idc].astype(str).tolist()
        paths, keys = [folder / f"{i}{suffix}" for i in ids], [f"{root}/{i}{suffix}" for i in ids]
        precompute(paths, keys, parts[spec])
        out.append(np.stack([vector(path, spec, key) for path, key in zip(paths, keys)]))
    return tuple(out)


AUDIO_PARTS = {"bands": ("bands",), "spectro": ("spectro",), "stats": ("stats",), "all": ("bands", "spectro", "stats"),
               "calls": ("calls",), "calls+bands": ("calls", "bands")}


def audio_vector(path, spec, key=None):
    """A clip's features for `spec` (AUDIO_PARTS): each part computed once per process.
    `key`: the file's resolved path, when the caller knows it (as in `image_vector`)."""
    key = key or str(Path(path).resolve())
    return np.concatenate([cached(("audio", part, key), lambda part=part: audio_part(path, part, key))
                           for part in AUDIO_PARTS[spec]])


def audio_part(path, part, key=None):
    rate, x = clip(path, key)
    if part == "calls":
        return call_features(x, rate)
    return spectral_parts(x[None, :], rate, part)[0]


def clip(path, key=None):
    """(rate in Hz, samples as floats in [-1, 1)) of a WAV file, read once per process."""
    from scipy.io import wavfile
    rate, wave = cached(("wav", key or str(Path(path).resolve())), lambda: wavfile.read(path))
    return rate, wave.astype(float) / 32768.0


def spectral_parts(x, rate, part):
    """The `part` features ("bands", "spectro" or "stats") of each row of `x` (clips of one
    length, shape (clips, samples)) -> (clips, features). Row by row the same numbers as one
    clip at a time: each FFT and each sum runs along a row."""
    if part == "bands":
        power = np.abs(np.fft.rfft(x * hanning(x.shape[1]), axis=1)) ** 2
        return np.log1p(band_sums(power, 24))
    if part == "spectro":
        feats = []
        for start, stop in split_bounds(x.shape[1], 4):
            seg = x[:, start:stop]
            power = np.abs(np.fft.rfft(seg * hanning(stop - start), axis=1)) ** 2
            feats.append(np.log1p(band_sums(power, 12)))
        return np.concatenate(feats, axis=1)
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / rate)
    return np.stack([np.sqrt((x ** 2).mean(axis=1)), (np.diff(np.sign(x), axis=1) != 0).mean(axis=1),
                     freqs[power.argmax(axis=1)] / rate, (freqs * power).sum(axis=1) / (power.sum(axis=1) + 1e-12) / rate,
                     np.abs(x).max(axis=1)], axis=1)


CLIPS_PER_FFT = 64     # clips transformed together: numpy's per-call overhead is most of a short clip's FFT


def precompute_audio(paths, keys, parts):
    """Fill the cache with the `parts` (AUDIO_PARTS) of the clips not yet done, their FFTs over
    the whole clip `CLIPS_PER_FFT` clips of one length and rate at a time (`audio_vector`
    then finds them)."""
    for part in parts:
        todo: dict = {}
        for path, key in zip(paths, keys):
            if ("audio", part, key) not in FEATURE_CACHE:
                rate, x = clip(path, key)
                todo.setdefault((rate, len(x)), []).append((key, x))
        for (rate, _), clips in todo.items():
            for i in range(0, len(clips), CLIPS_PER_FFT):
                chunk = clips[i:i + CLIPS_PER_FFT]
                stack = np.stack([x for _, x in chunk])
                if part == "calls":     # the whole clip's spectrum for the hum, then each call found alone
                    rows = [call_features(x, rate, hum) for (_, x), hum in zip(chunk, mains_hum(stack, rate))]
                else:
                    rows = spectral_parts(stack, rate, part)
                for (key, _), row in zip(chunk, rows):
                    FEATURE_CACHE[("audio", part, key)] = row


_WINDOWS: dict = {}    # length -> Hann window; (length, parts) -> split bounds


def hanning(length):
    """`np.hanning(length)`, made once per length (clips of a task share a few lengths)."""
    if length not in _WINDOWS:
        _WINDOWS[length] = np.hanning(length)
    return _WINDOWS[length]


def split_bounds(length, parts):
    """(start, stop) of each section `np.array_split` cuts `length` items into."""
    if (length, parts) not in _WINDOWS:
        size, extra = divmod(length, parts)
        stops = np.cumsum([size + 1] * extra + [size] * (parts - extra)).tolist()
        _WINDOWS[(length, parts)] = list(zip([0] + stops[:-1], stops))
    return _WINDOWS[(length, parts)]


def band_sums(power, parts):
    """The sum of each of `parts` sections of `power`'s last axis as `np.array_split` cuts it
    (the same sums: each is a contiguous slice summed by numpy, without array_split's overhead)."""
    return np.stack([power[..., start:stop].sum(axis=-1) for start, stop in split_bounds(power.shape[-1], parts)],
                    axis=-1)


def call_features(x, rate, hum=None):
    """Find the loudest call and describe it: pitch, sweep, loudness, harmonic, calls, hum
    (`hum`: `mains_hum(x[None, :], rate)[0]` when the caller has it)."""
    frame = max(16, rate // 50)                        # 20 ms frames
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    energy = (frames ** 2).mean(axis=1)
    noise = np.median(energy) + 1e-12
    active = energy > 2.0 * noise
    bursts = int(active[0]) + int((active[1:] & ~active[:-1]).sum())
    centre = (int(energy.argmax()) + 0.5) * frame
    half = int(0.09 * rate)
    seg = x[max(0, int(centre) - half): int(centre) + half]
    freqs = np.fft.rfftfreq(len(seg), 1.0 / rate)

    def peak(part):
        power = np.abs(np.fft.rfft(part * hanning(len(part)), n=len(seg))) ** 2
        power[freqs < 100] = 0.0                      # ignore the mains hum
        return power, freqs[power.argmax()]

    power, pitch = peak(seg)
    _, start = peak(seg[: len(seg) // 2])
    _, end = peak(seg[len(seg) // 2:])
    near = lambda f: power[np.abs(freqs - f) < 40].sum()
    if hum is None:
        hum = mains_hum(x[None, :], rate)[0]
    return np.array([pitch / rate, (end - start) / (pitch + 1e-9), np.log(energy.max() / noise),
                     near(2 * pitch) / (near(pitch) + 1e-12), bursts, active.mean(), hum])


def mains_hum(x, rate):
    """The share of each clip's power (rows of `x`, one length) within 8 Hz of 60 Hz."""
    full = np.abs(np.fft.rfft(x, axis=1)) ** 2
    near = np.abs(np.fft.rfftfreq(x.shape[1], 1.0 / rate) - 60) < 8
    return full[:, near].sum(axis=1) / (full.sum(axis=1) + 1e-12)


def audio_block(train, test, idc, spec):
    return _media_block(train, test, idc, spec, "audio", ".wav", precompute_audio, AUDIO_PARTS, audio_vector)


def features(train, test, idc):
    """(x_train, x_test) for CFG's blocks; the same blocks of the same rows are built once
    per process (callers never modify them)."""
    key = ("features", str(INPUT.resolve()), CFG["tabular"], CFG["text"], CFG["image"], CFG["audio"], idc,
           len(train), hash(tuple(train.index)), len(test))
    return cached(key, lambda: _features(train, test, idc))


def _features(train, test, idc):
    roles = column_roles(train, test, idc)
    blocks = [tabular_block(train, test, roles, CFG["tabular"]),
              text_block(train, test, roles, CFG["text"]),
              image_block(train, test, idc, CFG["image"]),
              audio_block(train, test, idc, CFG["audio"])]
    blocks = [b for b in blocks if b[0] is not None]
    if not blocks:
        n1, n2 = len(train), len(test)
        return np.zeros((n1, 1)), np.zeros((n2, 1))
    if any(sparse.issparse(b[0]) for b in blocks):
        parts_tr, parts_te = [], []
        for tr, te in blocks:
            if not sparse.issparse(tr):
                mu, sd = tr.mean(axis=0), tr.std(axis=0) + 1e-9
                tr, te = sparse.csr_matrix((tr - mu) / sd), sparse.csr_matrix((te - mu) / sd)
            parts_tr.append(tr)
            parts_te.append(te)
        return sparse.hstack(parts_tr).tocsr(), sparse.hstack(parts_te).tocsr()
    return np.hstack([b[0] for b in blocks]), np.hstack([b[1] for b in blocks])
