"""aipolicy: turn Chinese regional AI policy texts into structured, per-city category evidence.

The Python API mirrors the CLI stages: ingest → units → cities → tokenize/features → classify
→ topics → report.
"""
from .errors import AipolicyError, ModelIntegrityError, SkipFile
from .ingest import IngestResult, ingest, ingest_files

__version__ = "0.1.0"

__all__ = ["AipolicyError", "ModelIntegrityError", "SkipFile", "IngestResult", "ingest",
           "ingest_files", "__version__"]
