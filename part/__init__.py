"""part: Progressive Alignment Representation Training for multilingual speech-to-text with LLMs."""
__version__ = "0.1.0"
