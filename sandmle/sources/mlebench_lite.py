"""The 22 MLE-bench-lite competitions (REFERENCE §8), as data: where MLE-bench's prepared
folders keep each one's answers and sample submission, its id and target columns, the
sandmle metric that scores it, and the `grader` block that reproduces its
`mlebench/competitions/<id>/grade.py` (read from openai/mle-bench; pandas 2.2 and
scikit-learn 1.5, the versions it pins).

What each block does, in short (the keys are documented in `sandmle.grading.profile`):

- the common pattern (`prepare_for_auroc_metric`, `prepare_for_accuracy_metric`, the one-hot
  log-loss helper): columns found by name, others ignored; equal row counts; the sorted ids
  equal the answers' sorted ids; probabilities in [0, 1].
- aptos2019, dogs-vs-cats: the id *sets* are compared (and the row counts).
- dog-breed, leaf, spooky: each row's probabilities must sum to 1 (`np.isclose(sum, 1,
  atol=1e-6)`, so within 1.1e-5); no renormalisation; clipped at machine epsilon. leaf's
  header must be exactly the id and the 99 species; spooky's exactly the id first, then the
  3 authors.
- jigsaw: ids must be answer ids (boolean index alignment); the 6 prediction columns are
  paired with the answers' columns *by position*; answer rows labelled -1 are not scored;
  any numbers are accepted (no [0, 1] check).
- plant-pathology: the header is exactly id + 4 classes; any numbers are accepted.
- ranzcr: 9 of the 11 label columns are scored (the two the grader's class list lacks may be
  left out); answers carry PatientID.
- mlsp-2013-birds: long rows, `Id = rec_id * 100 + species`; one pooled ROC AUC.
- nyc-taxi: rows sorted by key and paired by position, keys not compared.
- nomad2018: rows paired in file order; ids not compared; RMSLE refuses negative values.
- detecting-insults: the id is the comment text; answers may repeat a comment; the sample
  submission carries a Date column (ignored).
- text-normalization (en, ru): predictions compared as the strings pandas reads
  (NA-like tokens are all "nan"; nothing stripped); the sample submission is zipped.
"""
from __future__ import annotations

from dataclasses import dataclass

from sandmle.grading.profile import MLEBENCH_ROW_SUM, mlebench_profile


@dataclass(frozen=True)
class Competition:
    """One prepared MLE-bench competition and how sandmle grades it."""

    id: str
    title: str
    modality: str
    metric: str                              # a sandmle metric (sandmle.metrics.METRICS)
    answers: str                             # under prepared/private/
    sample_submission: str                   # under prepared/public/
    id_column: str
    grader: dict
    train_file: str | None = "train.csv"     # the public table of labelled rows, if any
    test_file: str | None = "test.csv"       # the public table of test rows, if any
    layout: str = ""                         # where the data lies, for the task prompt
    sample_extra: tuple[str, ...] = ()       # sample-submission columns that are not targets
    targets: tuple[str, ...] = ()            # target columns when not the sample's
    scored: tuple[str, ...] = ()             # the scored subset of the targets


_COMMON = mlebench_profile()
_ROW_SUM = list(MLEBENCH_ROW_SUM)
_RANZCR_SCORED = ("ETT - Abnormal", "ETT - Borderline", "ETT - Normal", "NGT - Abnormal", "NGT - Borderline",
                  "NGT - Incompletely Imaged", "NGT - Normal", "CVC - Abnormal", "CVC - Borderline")
_RANZCR_TARGETS = _RANZCR_SCORED + ("CVC - Normal", "Swan Ganz Catheter Present")
_TEXT_NORM_LAYOUT = ("{lang}_train.csv.zip (sentence_id, token_id, class, before, after), "
                     "{lang}_test_2.csv.zip (sentence_id, token_id, before); a submission row per token, "
                     "id = sentence_id + \"_\" + token_id")

LITE: dict[str, Competition] = {c.id: c for c in (
    Competition("aerial-cactus-identification", "Aerial Cactus Identification", "image", "auc",
                "test.csv", "sample_submission.csv", "id", _COMMON, test_file=None,
                layout="train.zip and test.zip hold 32x32 JPEG images named by id"),
    Competition("aptos2019-blindness-detection", "APTOS 2019 Blindness Detection", "image", "qwk",
                "test.csv", "sample_submission.csv", "id_code", mlebench_profile(rows="id_set"),
                layout="train_images/ and test_images/ hold <id_code>.png retina images"),
    Competition("denoising-dirty-documents", "Denoising Dirty Documents", "image_to_image", "rmse",
                "answers.csv", "sampleSubmission.csv", "id", _COMMON, train_file=None, test_file=None,
                layout="train/ (noisy) and train_cleaned/ (clean) PNG scans, test/ noisy scans; a "
                       "submission row per pixel, id = <image>_<row>_<col> (1-based), value in [0, 1]"),
    Competition("detecting-insults-in-social-commentary", "Detecting Insults in Social Commentary", "text",
                "auc", "test.csv", "sample_submission_null.csv", "Comment", _COMMON,
                sample_extra=("Date",),
                layout="the comment text is the id; the sample submission keeps each comment's Date"),
    Competition("dog-breed-identification", "Dog Breed Identification", "image", "multiclass_log_loss",
                "test.csv", "sample_submission.csv", "id", mlebench_profile(row_sum=_ROW_SUM),
                train_file="labels.csv", test_file=None,
                layout="train/ and test/ hold <id>.jpg photos; labels.csv maps train ids to breeds"),
    Competition("dogs-vs-cats-redux-kernels-edition", "Dogs vs. Cats Redux: Kernels Edition", "image",
                "log_loss", "answers.csv", "sample_submission.csv", "id", mlebench_profile(rows="id_set"),
                train_file=None, test_file=None,
                layout="train.zip holds cat.<n>.jpg and dog.<n>.jpg, test.zip holds <id>.jpg; "
                       "label is P(dog)"),
    Competition("histopathologic-cancer-detection", "Histopathologic Cancer Detection", "image", "auc",
                "answers.csv", "sample_submission.csv", "id", _COMMON, train_file="train_labels.csv",
                test_file=None, layout="train/ and test/ hold <id>.tif 96x96 patches"),
    Competition("jigsaw-toxic-comment-classification-challenge", "Toxic Comment Classification Challenge",
                "text", "mean_column_auc", "test.csv", "sample_submission.csv", "id",
                mlebench_profile(columns="positional", rows="id_members", skip_answer_rows_below=0,
                                 probability_range=False),
                layout="the six label columns are scored in the sample submission's order"),
    Competition("leaf-classification", "Leaf Classification", "multimodal", "multiclass_log_loss",
                "test.csv", "sample_submission.csv", "id",
                mlebench_profile(columns="exact", row_sum=_ROW_SUM),
                layout="images/ holds <id>.jpg leaf silhouettes for train and test ids"),
    Competition("mlsp-2013-birds", "MLSP 2013 Bird Classification Challenge", "audio", "auc",
                "answers.csv", "sample_submission.csv", "Id", _COMMON, train_file=None, test_file=None,
                layout="essential_data/ (CVfolds_2.txt: fold 1 = test recordings; rec_labels_test_hidden.txt; "
                       "rec_id2filename.txt; species_list.txt; src_wavs/*.wav), supplemental_data/; "
                       "a submission row per (recording, species): Id = rec_id * 100 + species (19 species)"),
    Competition("new-york-city-taxi-fare-prediction", "New York City Taxi Fare Prediction", "tabular", "rmse",
                "test.csv", "sample_submission.csv", "key", mlebench_profile(rows="sorted"),
                train_file="labels.csv", layout="labels.csv holds the training rides (about 55M rows)"),
    Competition("nomad2018-predict-transparent-conductors", "Nomad2018 Predicting Transparent Conductors",
                "tabular", "mean_column_rmsle", "test.csv", "sample_submission.csv", "id",
                mlebench_profile(rows="file_order"),
                layout="train/<id>/geometry.xyz and test/<id>/geometry.xyz hold each crystal's atoms; "
                       "rows are scored in test.csv's order"),
    Competition("plant-pathology-2020-fgvc7", "Plant Pathology 2020 - FGVC7", "image", "mean_column_auc",
                "test.csv", "sample_submission.csv", "image_id",
                mlebench_profile(columns="exact", probability_range=False),
                layout="images/ holds Train_<n>.jpg and Test_<n>.jpg leaf photos"),
    Competition("random-acts-of-pizza", "Random Acts of Pizza", "multimodal", "auc", "test.csv",
                "sampleSubmission.csv", "request_id", _COMMON, train_file=None, test_file=None,
                layout="train.json and test.json (also zipped) hold the requests' text and metadata"),
    Competition("ranzcr-clip-catheter-line-classification", "RANZCR CLiP - Catheter and Line Position Challenge",
                "image", "mean_column_auc", "test.csv", "sample_submission.csv", "StudyInstanceUID",
                mlebench_profile(scored_columns=list(_RANZCR_SCORED)), test_file=None,
                targets=_RANZCR_TARGETS, scored=_RANZCR_SCORED,
                layout="train/ and test/ hold <StudyInstanceUID>.jpg X-rays; train_annotations.csv; "
                       "9 of the 11 labels are scored"),
    Competition("siim-isic-melanoma-classification", "SIIM-ISIC Melanoma Classification", "multimodal", "auc",
                "test.csv", "sample_submission.csv", "image_name", _COMMON,
                layout="jpeg/train, jpeg/test (JPEG), train/, test/ (DICOM) and tfrecords/ hold the images"),
    Competition("spooky-author-identification", "Spooky Author Identification", "text", "multiclass_log_loss",
                "test.csv", "sample_submission.csv", "id",
                mlebench_profile(columns="id_first", row_sum=_ROW_SUM)),
    Competition("tabular-playground-series-dec-2021", "Tabular Playground Series - Dec 2021", "tabular",
                "accuracy", "test.csv", "sample_submission.csv", "Id", _COMMON),
    Competition("tabular-playground-series-may-2022", "Tabular Playground Series - May 2022", "tabular", "auc",
                "test.csv", "sample_submission.csv", "id", _COMMON),
    Competition("text-normalization-challenge-english-language", "Text Normalization Challenge - English Language",
                "sequence", "accuracy", "answers.csv", "en_sample_submission_2.csv.zip", "id",
                mlebench_profile(compare="text"), train_file="en_train.csv.zip", test_file="en_test_2.csv.zip",
                layout=_TEXT_NORM_LAYOUT.format(lang="en")),
    Competition("text-normalization-challenge-russian-language", "Text Normalization Challenge - Russian Language",
                "sequence", "accuracy", "answers.csv", "ru_sample_submission_2.csv.zip", "id",
                mlebench_profile(compare="text"), train_file="ru_train.csv.zip", test_file="ru_test_2.csv.zip",
                layout=_TEXT_NORM_LAYOUT.format(lang="ru")),
    Competition("the-icml-2013-whale-challenge-right-whale-redux", "The ICML 2013 Whale Challenge - Right Whale Redux",
                "audio", "auc", "test.csv", "sampleSubmission.csv", "clip", _COMMON, train_file=None, test_file=None,
                layout="train2.zip holds <date>_<time>_TRAIN<n>_<label>.aif clips, test2.zip the test clips"),
)}


# The rules a synthetic task seeded from a competition inherits: how files are read, columns
# and rows matched, values checked. Not the competition's data-specific keys (its scored
# column names, jigsaw's unscored answer rows).
SEEDED_KEYS = ("reader", "columns", "rows", "probability_range", "row_sum", "clip_eps", "compare", "era")


def seeded_grader(seed_id: str, metric_kind: str) -> dict:
    """The `grader` block of a synthetic task from seed `seed_id`: its competition's rules for
    a lite seed; for other seeds, MLE-bench's multi-class rule (rows must sum to 1, no
    renormalising, machine-epsilon clipping), so that no task teaches a habit MLE-bench
    punishes, and sandmle's rules otherwise."""
    if seed_id in LITE:
        return {k: v for k, v in LITE[seed_id].grader.items() if k in SEEDED_KEYS}
    if metric_kind == "multiclass_proba":
        return {"row_sum": list(MLEBENCH_ROW_SUM), "clip_eps": "machine"}
    return {}
