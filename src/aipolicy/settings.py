"""Defaults shared by the API and the CLI, defined once (the CLI's flags take their defaults from here)."""
from __future__ import annotations

# the one random seed of the project: LDA, bootstrap, classifier and cross-validation default to it
SEED = 20241122

# ingestion
DEFAULT_MAX_MB = 50
DEFAULT_MAX_BYTES = DEFAULT_MAX_MB * 1_000_000
# files that document a folder rather than being policy text; listed in the manifest as skipped
DEFAULT_EXCLUDE = ("README*", "SOURCE*", "LICENSE*", "LICENCE*", "CHANGELOG*", "*.manifest.csv",
                   "*.documents.csv")

# models
DEFAULT_MODEL = "default"
