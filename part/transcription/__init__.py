"""Transcribing audio files with an exported model (``python -m part.bin.transcribe``): finding and reading
the recordings (:mod:`~.inputs`) and writing what was decoded as text, JSON lines or subtitles
(:mod:`~.outputs`). Segmentation is :mod:`part.data.segment`, decoding :class:`part.inference.SpeechToText`."""
