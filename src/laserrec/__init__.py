"""laserrec: LLM-based sequential recommendation (Laser, SASRec, BERT4Rec, Lite-LLM4Rec, DARec)."""

__version__ = "0.1.0"
