"""aipolicy: turn Chinese regional AI policy texts into structured, per-city category evidence.

The Python API mirrors the CLI stages: ingest → units → cities → tokenize/features → classify
→ topics → report.
"""
from .errors import AipolicyError, ModelIntegrityError, SkipFile
from .ingest import IngestResult, ingest, ingest_files
from .models import load_model


def label_files(*args, **kwargs):
    """Label files and folders into a table; see :func:`aipolicy.batch.label_files`."""
    from .batch import label_files as _label_files

    return _label_files(*args, **kwargs)

__version__ = "0.1.0"

__all__ = ["AipolicyError", "ModelIntegrityError", "SkipFile", "IngestResult", "ingest",
           "ingest_files", "load_model", "label_files", "__version__"]
