"""The embedded default corpus: a multilingual world made offline and deterministically.

- :mod:`~part.data.embedded.concepts`: what can be talked about (nouns, adjectives, places, ...).
- :mod:`~part.data.embedded.frames`: 24 sentence structures that draw concepts with a seeded RNG.
- :mod:`~part.data.embedded.lang`: one grammar + lexicon per language (en de fr es zh ja) that writes
  every drawn frame as a sentence, so all languages are exact translations of each other.
- :mod:`~part.data.embedded.corpus`: the stream of unique parallel tuples and its train/dev/test split
  (held-out sentences never occur in training, in any language).
- :mod:`~part.data.embedded.synth`: espeak-ng speech with varied voices, rates, pitch and noise.
- :mod:`~part.data.embedded.prepare`: the command line of recipe stage 1 (Kaldi data dirs, LLM text).
"""
