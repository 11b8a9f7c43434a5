"""Stage 4 — classify: the multi-label estimator, the keyword baseline, and honest evaluation.

``PolicyClassifier`` follows scikit-learn's conventions (keyword-only hyper-parameters stored by
``__init__``, learned state ending in ``_``), so it clones, pickles and works in GridSearchCV.
Per category: a logistic regression on TF-IDF features, its probability averaged with that of an
NB-SVM regression on 0/1 words and adjacent word pairs (``nb_weight``), the average sigmoid-calibrated on
out-of-fold probabilities; a unit gets a category when its probability reaches that category's threshold
and some category's probability reaches its gate (``gate``: some category more likely than not).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold, StratifiedKFold

from sklearn.utils.validation import check_is_fitted

from .features import (PreparedTexts, fit_transform_prepared, fit_word_pairs, make_vectorizer, prepare, segments_of,
                       transform_prepared, word_feature_names, word_pair_matrix)
from .predictor import add_label_columns, blend, cue_pattern, decide, logit, post_calibrate, top_terms
from .settings import SEED

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
FIXED_THRESHOLD = 0.5  # models fitted only for their probabilities (cross-validation folds) use this


class _Task:
    """A function call to run later, here or in a worker process (a picklable ``delayed``)."""

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self):
        return self.fn(*self.args, **self.kwargs)

    def delayed(self):
        return delayed(self.fn)(*self.args, **self.kwargs)


def _texts(X) -> list[str]:
    """A 1-D sequence of texts (list, tuple, Series, 1-D array, or a DataFrame's ``text`` column)."""
    if isinstance(X, pd.DataFrame):
        if "text" not in X.columns:
            raise ValueError(f"a DataFrame of units needs a 'text' column (columns: {', '.join(map(str, X.columns[:8]))})")
        X = X["text"]
    if isinstance(X, (str, bytes)):
        raise TypeError("expected a list of texts, got one string; wrap it in a list")
    if not hasattr(X, "__iter__"):
        raise TypeError(f"expected a list of texts, got {type(X).__name__}")
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of texts, got an array of shape {X.shape}")
    out = []
    for t in X:
        if t is None or (isinstance(t, float) and np.isnan(t)):
            out.append("")
        elif isinstance(t, (str, int, float, np.number)) and not isinstance(t, bool):
            out.append(str(t))
        else:
            raise ValueError(f"each text must be a string, got {type(t).__name__}")
    from .textnorm import normalise_all

    return normalise_all(out)  # features see the matching text (output text keeps its characters)


def _targets(y, k: int) -> np.ndarray:
    Y = np.asarray(y)
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2:
        raise ValueError(f"y has shape {Y.shape}: expected (n_units, {k}), one 0/1 column per category")
    if Y.shape[1] != k:
        raise ValueError(f"y has {Y.shape[1]} columns but there are {k} categories")
    if not np.isin(Y, (0, 1)).all():
        raise ValueError("y must contain only 0 and 1")
    return Y.astype(int)


def _package_categories() -> tuple:
    from .config import default_categories

    return default_categories()


def compact_columns(Xv) -> tuple[np.ndarray, "sp.csr_matrix"]:
    """(the columns that hold a value, ``Xv`` restricted to them). Entries keep their order within each
    row, so liblinear does exactly the same arithmetic (its weight vector is just shorter: it fits in
    the cache, about 15% faster per fit on the gold)."""
    import scipy.sparse as sp

    present = np.zeros(Xv.shape[1], dtype=bool)
    present[Xv.indices] = True
    rank = np.cumsum(present) - 1
    # its own arrays: scikit-learn sorts a matrix's indices (and data) in place, which must not reach Xv
    return np.flatnonzero(present), sp.csr_matrix((Xv.data.copy(), rank[Xv.indices].astype(Xv.indices.dtype),
                                                   Xv.indptr.copy()), shape=(Xv.shape[0], int(present.sum())))


def _widen(lr: LogisticRegression, cols: np.ndarray, width: int) -> None:
    """Give a regression fitted on ``cols`` the weights (zero elsewhere) of one fitted on all ``width`` columns."""
    coef = np.zeros((lr.coef_.shape[0], width))
    coef[:, cols] = lr.coef_
    lr.coef_, lr.n_features_in_ = coef, width


def _fit_category(Xc, Y, j, sw, *, cols, width, C, class_weight, calibration_cv, random_state, tol):
    """(fitted model or constant probability, coefficient vector) for category ``j`` (column of ``Y``),
    fitted on the compacted features ``Xc`` (``compact_columns``) and returned as if fitted on all
    ``width`` columns. ``Y[:, j]`` is taken here, a strided view as ever: a contiguous copy would
    change the calibration's sums in the last bit."""
    yj = Y[:, j]
    n_pos, n_neg = int(yj.sum()), int(len(yj) - yj.sum())
    if n_pos == 0 or n_neg == 0:
        return float(n_pos > 0), np.zeros(width)  # constant: nothing to learn
    # dual liblinear: with far more features than units it reaches the same optimum as the
    # primal solver about 3x faster (measured on the gold: 17.5 s -> 5.6 s for six fits)
    base = LogisticRegression(C=C, class_weight=class_weight, solver="liblinear", dual=True,
                              max_iter=2000, random_state=random_state, tol=tol)
    folds = min(calibration_cv, n_pos, n_neg)
    if folds < 2:
        est = base.fit(Xc, yj, sample_weight=sw)
        _widen(est, cols, width)
        return est, est.coef_[0]
    # ensemble=False: one model fitted on all units, calibrated on cross-validated scores
    # (a third of the size of an ensemble of per-fold models, same calibration idea)
    est = CalibratedClassifierCV(base, method="sigmoid", ensemble=False,
                                 cv=StratifiedKFold(folds, shuffle=True, random_state=random_state))
    est.fit(Xc, yj, sample_weight=sw)
    for c in est.calibrated_classifiers_:
        _widen(c.estimator, cols, width)
    est.n_features_in_ = width
    return est, np.mean([c.estimator.coef_[0] for c in est.calibrated_classifiers_], axis=0)


def _fit_pairs_model(Xb, yj, sw, *, C, class_weight, random_state, tol) -> tuple[np.ndarray, float]:
    """(weights, intercept) of the word-pair model of one category: a logistic regression on the 0/1 words
    and word pairs ``Xb`` scaled by their log-count ratios (how much likelier a feature is in the
    category's units than in the others', Wang & Manning's NB-SVM), the weights returned times the ratios
    so that they apply to ``Xb`` itself."""
    n_pos = int(yj.sum())
    if n_pos in (0, len(yj)):  # constant: the probability 0 or 1 of the other model
        return np.zeros(Xb.shape[1]), 50.0 if n_pos else -50.0
    pos = np.asarray(Xb[yj == 1].sum(axis=0)).ravel() + 1.0
    neg = np.asarray(Xb[yj == 0].sum(axis=0)).ravel() + 1.0
    ratio = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
    lr = LogisticRegression(C=C, class_weight=class_weight, solver="liblinear", dual=True, max_iter=2000,
                            random_state=random_state, tol=tol)
    lr.fit(Xb.multiply(ratio).tocsr(), yj, sample_weight=sw)
    return lr.coef_[0] * ratio, float(lr.intercept_[0])


def _fit_categories(Xc, Xb, Y, sw, cats, nb=None, **kw) -> list:
    """``_fit_category`` on ``Xc`` for the columns ``cats`` of ``Y``, with the word-pair model
    (``_fit_pairs_model`` on ``Xb`` with the settings ``nb``) when ``nb`` is given."""
    return [(*_fit_category(Xc, Y, j, sw, **kw),
             None if nb is None else _fit_pairs_model(Xb, Y[:, j], sw, **nb)) for j in cats]


class PolicyClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label classifier of policy units.

    Parameters are stored as given; ``fit(texts, Y)`` takes an (n_units, n_categories) 0/1 matrix
    (or DataFrame with one column per category). ``predict_proba`` returns an
    (n_units, n_categories) array of probabilities (calibrated when the thresholds were chosen on
    out-of-fold predictions); ``predict`` applies ``thresholds_`` and ``gates_``.

    The defaults are those of ``aipolicy train`` with the shipped configuration: ``categories=None``
    means the package's categories, ``cue_terms=None`` their codebook cue terms (``()`` for none),
    ``thresholds=None`` one threshold per category chosen on out-of-fold predictions of a
    ``threshold_folds``-fold cross-validation inside ``fit`` (grouped by the ``groups`` given to ``fit``,
    e.g. the document of each unit — as ``aipolicy train`` does), a number or list/dict fixes them.
    So ``PolicyClassifier().fit(texts, Y, groups=doc_ids, sample_weight=w)`` gives the same model as
    ``aipolicy train`` on the same units.
    """

    def __init__(self, *, categories=None, word_ngram_range=(1, 1), char_ngram_range=(2, 3),
                 min_df=2, max_features=60000, char_bits=18, cue_terms=None, C=10.0, class_weight="balanced",
                 calibration_cv=0, nb_weight=0.4, nb_C=1.0, gate=0.5, tol=1e-2, thresholds=None,
                 threshold_folds=5, random_state=SEED):
        self.categories = categories
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.char_bits = char_bits
        self.cue_terms = cue_terms
        self.C = C
        self.class_weight = class_weight
        self.calibration_cv = calibration_cv
        self.nb_weight = nb_weight
        self.nb_C = nb_C
        self.gate = gate
        self.tol = tol
        self.thresholds = thresholds
        self.threshold_folds = threshold_folds
        self.random_state = random_state

    # fitted state that a model may lack (None: no word-pair model, no calibration of the blend, no gate),
    # also for models pickled before they existed
    nb_pairs_ = nb_coef_ = nb_intercept_ = post_a_ = post_b_ = gates_ = None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # X is a 1-D sequence of texts
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.target_tags.single_output = False
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags

    # -------------------------------------------------------------- fitting
    def _category_names(self) -> list[str]:
        if self.categories is None:
            return [c.name for c in _package_categories()]
        if isinstance(self.categories, str) or not len(self.categories):
            raise ValueError("categories must be a non-empty list of names")
        return [str(c) for c in self.categories]

    def _cue_terms(self, cats: list[str]) -> tuple[str, ...]:
        if self.cue_terms is not None:
            return tuple(self.cue_terms)
        return tuple(sorted({t for c in _package_categories() if c.name in cats for t in c.cues}))

    def fit(self, X, y, sample_weight=None, groups=None):
        """Fit on texts ``X`` and an (n, n_categories) 0/1 matrix ``y``; ``sample_weight`` (optional)
        weighs units in the logistic regressions (e.g. to give the home domain more say); ``groups``
        (optional, e.g. document ids) keeps each group on one side of the threshold cross-validation."""
        texts = _texts(X)
        cats = self._category_names()
        Y = _targets(y[cats].to_numpy() if isinstance(y, pd.DataFrame) else y, len(cats))
        if len(texts) != len(Y):
            raise ValueError(f"{len(texts)} texts but {len(Y)} label rows")
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if sw is not None and sw.shape != (len(texts),):
            raise ValueError(f"sample_weight has shape {sw.shape}, expected ({len(texts)},)")
        prep = self._prepare(texts)
        self._fit_prepared(prep, Y, sw)
        self.thresholds_ = self._fitted_thresholds(prep, Y, sw, groups, cats)
        return self

    def _new_vectorizer(self):
        return make_vectorizer(word_ngram_range=self.word_ngram_range, char_ngram_range=self.char_ngram_range,
                               min_df=self.min_df, max_features=self.max_features, char_bits=self.char_bits,
                               cue_terms=self._cue_terms(self._category_names()))

    def _prepare(self, texts: list[str]) -> PreparedTexts:
        """What the features of ``texts`` need that no fit changes (tokens, n-gram counts, cue terms),
        computed once for every model fitted on some of them."""
        return prepare(self._new_vectorizer(), texts)

    def _fit_features(self, prep: PreparedTexts):
        """Fit the vectorizer (and the word pairs) on the prepared units (all that this model may see);
        (their feature matrix, their word-pair matrix or None)."""
        self.vectorizer_ = self._new_vectorizer()
        Xv = fit_transform_prepared(self.vectorizer_, prep)
        words = dict(self.vectorizer_.transformer_list)["w"]
        words.stop_words_ = None  # the pruned n-grams: only for introspection, large when pickled
        words._stop_words_id = None  # a memory address (a cache key): would make the pickle differ per run
        self._check_blend_and_gate()
        self.nb_pairs_, Xb = None, None
        if self.nb_weight > 0:
            self.nb_pairs_, Xb = fit_word_pairs(self.vectorizer_, prep.segments, self.min_df)
        return Xv, Xb

    def _check_blend_and_gate(self) -> None:
        """The settings of the word-pair model and the gate, checked before anything is fitted with them."""
        if not 0 <= self.nb_weight <= 1:
            raise ValueError(f"nb_weight must be in [0, 1], got {self.nb_weight!r}")
        if self.nb_weight > 0 and tuple(self.word_ngram_range) != (1, 1):
            raise ValueError("the word-pair model (nb_weight > 0) needs word_ngram_range (1, 1): it makes the pairs")
        if not 0 <= self.gate <= 1:
            raise ValueError(f"gate must be in [0, 1], got {self.gate!r}")

    def _regressions(self, features, Y: np.ndarray, sw, parts: int = 1) -> list:
        """The logistic-regression fits of all categories on the ``features`` (``_fit_features``), as ``parts`` tasks over
        consecutive categories (run them, here or in worker processes, and give their results, joined in
        order, to ``_set_fitted``)."""
        Xv, Xb = features
        cols, Xc = compact_columns(Xv)
        # sorted once here (scikit-learn sorts a matrix's column indices in place before fitting), so that
        # every category is fitted on the same matrix wherever its task runs, and only it is sent there
        Xc.sort_indices()
        kw = {"cols": cols, "width": Xv.shape[1], "C": self.C, "class_weight": self.class_weight,
              "calibration_cv": self.calibration_cv, "random_state": self.random_state, "tol": self.tol,
              "nb": None if Xb is None else {"C": self.nb_C, "class_weight": self.class_weight,
                                             "random_state": self.random_state, "tol": self.tol}}
        return [_Task(_fit_categories, (Xc, Xb, Y, sw, cats), kw)
                for cats in map(list, np.array_split(np.arange(Y.shape[1]), parts)) if cats]

    def _set_fitted(self, fitted: list) -> None:
        cats = self._category_names()
        self.estimators_ = [est for est, _, _ in fitted]
        self.coef_ = np.vstack([coef for _, coef, _ in fitted])  # weight of each feature per category (evidence)
        self.nb_coef_ = self.nb_intercept_ = None
        if fitted and fitted[0][2] is not None:
            self.nb_coef_ = np.vstack([nb[0] for _, _, nb in fitted])
            self.nb_intercept_ = np.array([nb[1] for _, _, nb in fitted])
        self.post_a_ = self.post_b_ = None  # set from out-of-fold probabilities (calibrate)
        self.gates_ = np.full(len(cats), float(self.gate)) if self.gate > 0 else None  # mapped by calibrate
        self.categories_ = np.array(cats)
        self.classes_ = [np.array([0, 1])] * len(cats)

    def _fit_prepared(self, prep: PreparedTexts, Y: np.ndarray, sw) -> "PolicyClassifier":
        """Fit on prepared units only (thresholds are set by the caller)."""
        self._set_fitted([r for task in self._regressions(self._fit_features(prep), Y, sw) for r in task()])
        return self

    def _proba_prepared(self, prep: PreparedTexts) -> np.ndarray:
        """``predict_proba`` of prepared units."""
        Xb = None if self.nb_coef_ is None else word_pair_matrix(self.vectorizer_, prep.segments, self.nb_pairs_)
        return self.predict_proba_features(transform_prepared(self.vectorizer_, prep), Xb)

    def calibrate(self, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Set a sigmoid (Platt) calibration of each category's probability, fitted on out-of-fold
        probabilities ``P`` of this model's settings against the gold ``Y``, and thresholds: per
        category the threshold on ``P`` that maximises F1 among the units that pass the gate, mapped
        through the calibration (which keeps the order of probabilities, so the same units pass), and the
        gate mapped the same way per category. Returns the thresholds."""
        k = P.shape[1]
        a, b = np.full(k, -1.0), np.zeros(k)
        for j in range(k):
            if 0 < Y[:, j].sum() < len(Y) and not isinstance(self.estimators_[j], float):
                lr = LogisticRegression(C=1e6, solver="lbfgs").fit(logit(P[:, [j]]), Y[:, j])
                a[j], b[j] = -lr.coef_[0, 0], -lr.intercept_[0]
                if a[j] >= 0:  # not increasing: keep the probabilities as they are
                    a[j], b[j] = -1.0, 0.0
        self.post_a_, self.post_b_ = a, b
        kept = gated(P, self.gate)
        self.thresholds_ = post_calibrate(best_thresholds(Y[kept], P[kept]), a, b)
        self.gates_ = None if self.gate <= 0 else post_calibrate(np.full(k, float(self.gate)), a, b)
        return self.thresholds_

    def _fitted_thresholds(self, prep: PreparedTexts, Y, sw, groups, cats) -> np.ndarray:
        th = self.thresholds
        if th is None:
            groups = np.arange(len(prep)) if groups is None else np.asarray(groups)
            if len(groups) != len(prep):
                raise ValueError(f"groups has {len(groups)} entries for {len(prep)} texts")
            P, _ = out_of_fold(self, prep, Y, sw, grouped_folds(groups, self.threshold_folds))
            return self.calibrate(Y, P)
        if isinstance(th, dict):
            th = [th.get(c, FIXED_THRESHOLD) for c in cats]
        elif np.ndim(th) == 0:
            th = [th] * len(cats)
        th = np.asarray(th, dtype=float)
        if th.shape != (len(cats),) or ((th < 0) | (th > 1)).any():
            raise ValueError(f"thresholds must be {len(cats)} values in [0, 1], got {self.thresholds!r}")
        return th

    # -------------------------------------------------------------- prediction
    def _check_fitted(self):
        check_is_fitted(self, ["estimators_", "thresholds_"],
                        msg="PolicyClassifier is not fitted yet; call fit or load a model")

    def transform_texts(self, X):
        self._check_fitted()
        return self.vectorizer_.transform(_texts(X))

    def _features_of(self, texts: list[str]):
        """(feature matrix, word-pair matrix or None) of normalised texts."""
        Xb = None
        if self.nb_coef_ is not None:
            Xb = word_pair_matrix(self.vectorizer_, segments_of(texts), self.nb_pairs_)
        return self.vectorizer_.transform(texts), Xb

    def predict_proba_features(self, Xv, Xb=None) -> np.ndarray:
        """Probabilities from the feature matrix ``Xv`` and (for a blended model) the word-pair matrix ``Xb``."""
        out = np.empty((Xv.shape[0], len(self.estimators_)))
        for j, est in enumerate(self.estimators_):
            out[:, j] = est if isinstance(est, float) else est.predict_proba(Xv)[:, 1]
        if self.nb_coef_ is not None:
            if Xb is None:
                raise ValueError("this model blends in a word-pair model: give its word-pair matrix too")
            out = blend(out, np.asarray(Xb @ self.nb_coef_.T) + self.nb_intercept_, self.nb_weight)
        if self.post_a_ is not None:
            out = post_calibrate(out, self.post_a_, self.post_b_)
        return out

    def predict_proba(self, X) -> np.ndarray:
        self._check_fitted()
        return self.predict_proba_features(*self._features_of(_texts(X)))

    def predict(self, X) -> np.ndarray:
        return decide(self.predict_proba(X), self.thresholds_, self.gates_).astype(int)

    def _word_names(self) -> np.ndarray:
        # derived from the fitted vocabulary once per process; not pickled (it would slow loading)
        names = self.__dict__.get("_word_names_cache")
        if names is None:
            names = self.__dict__["_word_names_cache"] = word_feature_names(self.vectorizer_)
        return names

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__.copy()
        state = dict(state)
        state.pop("_word_names_cache", None)
        return state

    def evidence(self, Xv, predicted: np.ndarray, k: int = 3) -> list[str]:
        """For each unit, the ``k`` word features that pushed its predicted labels up most."""
        return top_terms(Xv, predicted, self.coef_, self._word_names(), k)

    def label(self, units, *, evidence_terms: int = 3) -> pd.DataFrame:
        """Add ``p_<category>`` columns, ``labels`` (';'-joined, empty for none) and ``evidence`` to
        ``units`` (a DataFrame with a ``text`` column; a list or Series of texts becomes one)."""
        self._check_fitted()
        if not isinstance(units, pd.DataFrame):
            units = pd.DataFrame({"text": _texts(units)})
        Xv, Xb = self._features_of(_texts(units))
        proba = self.predict_proba_features(Xv, Xb)
        pred = decide(proba, self.thresholds_, self.gates_).astype(int)
        return add_label_columns(units, proba, self.thresholds_, self.categories_,
                                 self.evidence(Xv, pred, evidence_terms), self.gates_)


class KeywordBaseline(ClassifierMixin, BaseEstimator):
    """A unit gets a category when it contains one of the category's codebook cue terms."""

    def __init__(self, *, cues=None):
        self.cues = cues

    def fit(self, X=None, y=None):
        if not self.cues:
            raise ValueError("KeywordBaseline needs cues: {category: [terms]}")
        self.categories_ = np.array(list(self.cues))
        self.patterns_ = [cue_pattern(self.cues[c]) for c in self.categories_]
        self.classes_ = [np.array([0, 1])] * len(self.categories_)
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "patterns_", msg="KeywordBaseline is not fitted yet; call fit first")
        texts = _texts(X)
        return np.array([[1 if p.search(t) else 0 for p in self.patterns_] for t in texts],
                        dtype=int).reshape(len(texts), len(self.patterns_))


# ------------------------------------------------------------------ evaluation

def best_thresholds(Y: np.ndarray, P: np.ndarray, grid=THRESHOLD_GRID) -> np.ndarray:
    """Per category, the threshold on the grid that maximises F1 (ties: the one nearest 0.5).

    Vectorised over the grid: F1 = 2 TP / (2 TP + FP + FN), 0 when there is nothing to find or flag.
    """
    Y = np.asarray(Y, dtype=bool)
    grid = np.asarray(grid, dtype=float)
    out = []
    for j in range(Y.shape[1]):
        flagged = P[:, j][None, :] >= grid[:, None]          # grid × units
        tp = (flagged & Y[:, j][None, :]).sum(axis=1)
        denom = flagged.sum(axis=1) + Y[:, j].sum()
        scores = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
        best = scores.max()
        cands = grid[scores == best]
        out.append(min(cands, key=lambda t: (abs(t - 0.5), t)))
    return np.array(out)


def scores_table(Y: np.ndarray, pred: np.ndarray, categories) -> pd.DataFrame:
    p, r, f, s = precision_recall_fscore_support(Y, pred, zero_division=0)
    t = pd.DataFrame({"category": list(categories), "precision": p, "recall": r, "f1": f, "support": s})
    macro = f1_score(Y, pred, average="macro", zero_division=0)
    micro = f1_score(Y, pred, average="micro", zero_division=0)
    pm, rm, _, _ = precision_recall_fscore_support(Y, pred, average="micro", zero_division=0)
    t.loc[len(t)] = ["macro", p.mean(), r.mean(), macro, int(s.sum())]
    t.loc[len(t)] = ["micro", pm, rm, micro, int(s.sum())]
    return t


@dataclass
class Evaluation:
    model: pd.DataFrame          # per-category scores of the classifier (thresholds cross-fitted)
    baseline: pd.DataFrame       # the same for the keyword baseline
    thresholds: np.ndarray       # thresholds chosen on all out-of-fold predictions (for the final model)
    oof_proba: np.ndarray
    folds: int
    pred: np.ndarray | None = None           # cross-fitted 0/1 predictions (each fold's thresholds from the others)
    baseline_pred: np.ndarray | None = None
    Y: np.ndarray | None = None
    domains: np.ndarray | None = None        # e.g. the corpus of every unit
    refitted: "PolicyClassifier | None" = None  # with refit=True: fitted on all units, final thresholds

    def per_domain(self) -> pd.DataFrame:
        """Per domain (and 'all'): per-category and macro scores of the model next to the baseline, and
        the share of units labelled none in the gold that get a label."""
        doms = np.full(len(self.Y), "all") if self.domains is None else np.asarray(self.domains)
        cats = list(self.model["category"][:-2])
        rows = []
        for d in [*sorted(set(doms)), "all"]:
            m = np.ones(len(doms), bool) if d == "all" else doms == d
            mt = scores_table(self.Y[m], self.pred[m], cats).set_index("category")
            bt = scores_table(self.Y[m], self.baseline_pred[m], cats).set_index("category")
            for c in [*cats, "macro"]:
                rows.append({"domain": d, "category": c, "precision": mt.at[c, "precision"],
                             "recall": mt.at[c, "recall"], "f1": mt.at[c, "f1"],
                             "baseline_f1": bt.at[c, "f1"], "support": int(mt.at[c, "support"]),
                             "units": int(m.sum())})
            none = self.Y[m].sum(axis=1) == 0
            rows.append({"domain": d, "category": "none flagged", "units": int(m.sum()),
                         "support": int(none.sum()),
                         "f1": float(self.pred[m][none].any(axis=1).mean()) if none.any() else 0.0,
                         "baseline_f1": float(self.baseline_pred[m][none].any(axis=1).mean()) if none.any() else 0.0,
                         "precision": np.nan, "recall": np.nan})
        return pd.DataFrame(rows)

    @property
    def macro_f1(self) -> float:
        return float(self.model.set_index("category").loc["macro", "f1"])

    @property
    def baseline_macro_f1(self) -> float:
        return float(self.baseline.set_index("category").loc["macro", "f1"])

    def side_by_side(self) -> pd.DataFrame:
        m = self.model.set_index("category")
        b = self.baseline.set_index("category")
        return pd.DataFrame({"precision": m["precision"], "recall": m["recall"], "f1": m["f1"],
                             "baseline_precision": b["precision"], "baseline_recall": b["recall"],
                             "baseline_f1": b["f1"], "support": m["support"].astype(int)}).reset_index()


def grouped_folds(groups, folds: int) -> np.ndarray:
    """Fold number of every unit; all units of one document (group) fall in the same fold."""
    groups = np.asarray(groups)
    folds = min(folds, len(np.unique(groups)))
    if folds < 2:
        raise ValueError("evaluation needs units from at least 2 documents")
    fold_of = np.empty(len(groups), dtype=int)
    for k, (_, te) in enumerate(GroupKFold(n_splits=folds).split(np.zeros(len(groups)), groups=groups)):
        fold_of[te] = k
    return fold_of


def gated(P: np.ndarray, gate: float) -> np.ndarray:
    """Which units pass the gate: their highest probability reaches ``gate`` (all of them when there are
    none such, so that thresholds can still be chosen)."""
    kept = P.max(axis=1, initial=0.0) >= gate
    return kept if kept.any() else np.ones(len(P), bool)


def cross_fitted_predictions(Y: np.ndarray, P: np.ndarray, fold_of: np.ndarray, eligible=None) -> np.ndarray:
    """0/1 predictions where each fold's thresholds are chosen on the other folds' out-of-fold
    probabilities only (``eligible``: a mask of the units those thresholds may be chosen on)."""
    pred = np.zeros_like(Y)
    for k in np.unique(fold_of):
        te = fold_of == k
        tr = ~te if eligible is None else ~te & eligible
        pred[te] = (P[te] >= best_thresholds(Y[tr], P[tr])).astype(int)
    return pred


def _ready() -> int:
    return 0


def start_workers(n_jobs: int):
    """Start the ``n_jobs`` worker processes of ``evaluate`` in the background (each imports
    scikit-learn, about 2 s) while the caller does other work; ``join()`` the returned thread (None for
    one job) before calling ``evaluate``."""
    import threading

    if n_jobs <= 1:
        return None
    th = threading.Thread(target=lambda: Parallel(n_jobs=n_jobs, max_nbytes=None)(delayed(_ready)() for _ in range(n_jobs)),
                          daemon=True)
    th.start()
    return th


def _fold_model(clf: PolicyClassifier) -> PolicyClassifier:
    return clone(clf).set_params(thresholds=FIXED_THRESHOLD)  # only its probabilities are used / thresholds set after


def _plan(clf: PolicyClassifier, fold_of: np.ndarray, refit: bool) -> list:
    """(unfitted model, its training rows, the rows it predicts or None) per fold, then the final model."""
    plan = [(_fold_model(clf), fold_of != k, fold_of == k) for k in range(int(fold_of.max()) + 1)]
    if refit:  # the final model does not depend on the folds: fitted alongside them, first (the largest task)
        plan.insert(0, (_fold_model(clf), np.ones(len(fold_of), bool), None))
    return plan


def _fit_plan(plan: list, prep: PreparedTexts, Y: np.ndarray, sw, *, n_jobs: int, progress: bool) -> None:
    """Fit every model of ``plan`` on its own rows of ``prep``. Each model's features are fitted here
    (while earlier models' regressions run); its regressions are two tasks (three categories each, so
    that the workers finish together) for ``n_jobs`` processes (joblib gives each worker one BLAS
    thread); results come back in order, so the outcome does not depend on ``n_jobs``."""
    from tqdm.auto import tqdm

    parts = 2 if n_jobs != 1 else 1
    counts = []

    def tasks():
        for m, tr, _ in plan:
            t = m._regressions(m._fit_features(prep.take(tr)), Y[tr], None if sw is None else sw[tr], parts)
            counts.append(len(t))
            yield from (x.delayed() for x in t)

    # max_nbytes=None: arrays are sent pickled, not as read-only memory maps (scikit-learn sorts indices in place)
    results = iter(Parallel(n_jobs=n_jobs, return_as="generator", max_nbytes=None)(tasks()))
    for i, (m, _, _) in enumerate(tqdm(plan, desc="cross-validation", unit="model", disable=not progress)):
        fitted = list(next(results))  # model i's tasks were all made before its first result came back
        for _ in range(counts[i] - 1):
            fitted += next(results)
        m._set_fitted(fitted)


def out_of_fold(clf: PolicyClassifier, prep: PreparedTexts, Y: np.ndarray, sw, fold_of: np.ndarray, *,
                refit: bool = False, n_jobs: int = 1, progress: bool = False):
    """(out-of-fold probabilities: each fold's units from a model fitted on the other folds only, the
    final model fitted on all units when ``refit`` else None). Used by ``evaluate`` and by a model's own
    threshold cross-validation."""
    plan = _plan(clf, fold_of, refit)
    _fit_plan(plan, prep, Y, sw, n_jobs=n_jobs, progress=progress)
    P = np.zeros(Y.shape)
    for m, _, te in plan:
        if te is not None:
            P[te] = m._proba_prepared(prep.take(te))
    return P, (plan[0][0] if refit else None)


def evaluate(clf: PolicyClassifier, texts, Y: np.ndarray, groups, cues: dict, *, folds: int = 5,
             domains=None, sample_weight=None, progress: bool = False, n_jobs: int = 1,
             refit: bool = False) -> Evaluation:
    """Grouped cross-validation: no document on both sides of a split.

    Out-of-fold probabilities come from models that never saw the unit's document. Reported scores
    use, for each fold, thresholds chosen on the *other* folds' out-of-fold predictions, so no
    threshold is tuned on the units it is scored on. The final thresholds use all of them.
    ``refit=True`` also fits the final model on all units (``Evaluation.refitted``, with those thresholds).
    Tokens, n-gram counts and cue terms of the units are computed once; each model learns its
    vocabulary, idf and weights from its training rows only (``PreparedTexts.take``).
    """
    texts = _texts(texts)
    Y = np.asarray(Y, dtype=int)
    fold_of = grouped_folds(groups, folds)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    P, final = out_of_fold(clf, clf._prepare(texts), Y, sw, fold_of, refit=refit, n_jobs=n_jobs, progress=progress)
    # a unit gets labels only when its highest probability reaches the gate; thresholds are chosen on those
    kept = gated(P, clf.gate)
    pred = cross_fitted_predictions(Y, P, fold_of, eligible=kept) * kept[:, None]
    cats = clf._category_names()
    base = KeywordBaseline(cues={c: cues[c] for c in cats}).fit()
    bpred = base.predict(texts)
    thresholds = best_thresholds(Y[kept], P[kept])
    if final is not None:  # calibration and thresholds are not used in fitting: set them on the fitted model
        final.calibrate(Y, P)
        final.thresholds = [float(t) for t in final.thresholds_]
    return Evaluation(model=scores_table(Y, pred, cats), baseline=scores_table(Y, bpred, cats),
                      thresholds=thresholds, oof_proba=P, folds=int(fold_of.max()) + 1, pred=pred,
                      baseline_pred=bpred, Y=Y, domains=None if domains is None else np.asarray(domains),
                      refitted=final)
