"""
A real pipeline step: train a scikit-learn classifier on its bundled digits data.

Run by ``examples/main_job.py`` through ``objlog run``; it knows nothing of
objlog. It logs the way ordinary Python code does, through stdlib logging
(plain text on stderr) and structlog (JSON on stdout), prints a report, and
writes two outputs into ``--out``:

* ``metrics.json``: test accuracy, the chosen hyper-parameters, the
  cross-validation scores, and a KFP v1 ``metrics`` list;
* ``model.pkl``: the fitted classifier, pickled.

The data set is ``sklearn.datasets.load_digits`` (1,797 8x8 images of
handwritten digits, shipped inside the scikit-learn wheel: no download).
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from pathlib import Path

import structlog


def _configure_logging() -> structlog.stdlib.BoundLogger:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    return structlog.get_logger("train-digits")  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and save the digits classifier; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", required=True, type=Path, help="directory for the outputs")
    parser.add_argument("--folds", type=int, default=4, help="cross-validation folds")
    args = parser.parse_args(argv)
    log = _configure_logging()
    std = logging.getLogger("pipeline_step")

    from sklearn.datasets import load_digits
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
    from sklearn.model_selection import cross_val_score, train_test_split
    from sklearn.svm import SVC

    started = time.perf_counter()
    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    log.info(
        "data_loaded", samples=len(x), features=x.shape[1], train=len(x_train), test=len(x_test)
    )
    std.info("searching hyper-parameters with %d-fold cross-validation", args.folds)

    grid = [(c, g) for c in (1.0, 10.0) for g in (0.005, 0.02, 0.05, 0.2)]
    scores: list[dict[str, float]] = []
    for n, (c, gamma) in enumerate(grid, 1):
        folds = cross_val_score(SVC(C=c, gamma=gamma), x_train, y_train, cv=args.folds)
        scores.append({"C": c, "gamma": gamma, "cv_accuracy": float(folds.mean())})
        log.info(
            "candidate",
            n=n,
            of=len(grid),
            C=c,
            gamma=gamma,
            cv_accuracy=round(float(folds.mean()), 4),
            cv_std=round(float(folds.std()), 4),
        )
        if folds.mean() < 0.9:
            std.warning("candidate C=%s gamma=%s is weak: %.3f", c, gamma, folds.mean())
    best = max(scores, key=lambda s: s["cv_accuracy"])
    std.info("best candidate: C=%s gamma=%s", best["C"], best["gamma"])

    model = SVC(C=best["C"], gamma=best["gamma"]).fit(x_train, y_train)
    predicted = model.predict(x_test)
    accuracy = float(accuracy_score(y_test, predicted))
    log.info("evaluated", accuracy=round(accuracy, 4), test_samples=len(y_test))

    print("classification report (test set):")
    print(classification_report(y_test, predicted, digits=3))
    print("confusion matrix (rows: true digit, columns: predicted):")
    for row in confusion_matrix(y_test, predicted):
        print("  " + " ".join(f"{v:3d}" for v in row))

    args.out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "accuracy": accuracy,
        "best_params": {"C": best["C"], "gamma": best["gamma"]},
        "cv": scores,
        "train_samples": len(x_train),
        "test_samples": len(x_test),
        "seconds": round(time.perf_counter() - started, 3),
        # The KFP v1 metrics file shape (mlpipeline-metrics.json).
        "metrics": [{"name": "accuracy-score", "numberValue": accuracy, "format": "PERCENTAGE"}],
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with (args.out / "model.pkl").open("wb") as f:
        pickle.dump(model, f)
    log.info("outputs_written", out=str(args.out), files=["metrics.json", "model.pkl"])
    if accuracy < 0.9:
        std.error("accuracy %.3f is below 0.9", accuracy)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
