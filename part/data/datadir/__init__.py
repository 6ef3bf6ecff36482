"""Kaldi data directories: read, validate, write and fix them.

The format is fixed in docs/contracts.md: one line per id, ``id value``, UTF-8, sorted by id in C-locale
(byte) order, in ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``utt2lang`` and optionally
``segments`` (then ``wav.scp`` is keyed by recording) and ``text.<tgt>`` (translations of some
utterances into language ``<tgt>``, never into the utterance's own language).

Every problem is a :class:`DataDirError` whose message names the file, the line and the id, and says
what to do::

    data/train/text:3: utterance 'spk1-003': empty transcript. Write the transcript, or run
    utils/fix_data_dir.sh data/train to drop the utterance

Everything streams (memory does not grow with the number of utterances) except :func:`load_data_dir`,
which reads a dir into memory for random access. Use::

    with DataDirWriter("data/train", on_duplicate=...) as writer:   # corpus preparation, any order
        writer.add(Utterance(...), where="corpus.tsv:12")
    report = validate_data_dir("data/train", check_audio=True)   # collects every problem
    for utt in iter_utterances("data/train"): ...                # Utterance records, in id order
    data = load_data_dir("data/train")          # validates, then {file: {id: value}} in memory
    data["text"]["spk1-003"], data.utt_ids, data.langs, data.wav_entry("spk1-003")
    fix_data_dir("data/train")                  # keep the utterances present in every file
    read_kaldi_dict("exp/x/decode/ref", allow_empty=True, sorted_ids=False)   # any `id value` file

Modules: :mod:`~.table` (the ``id value`` format: the one reader, sorting, value rules),
:mod:`~.records` (:class:`Utterance`, :class:`Segment`), :mod:`~.read`, :mod:`~.validate`, :mod:`~.write`,
:mod:`~.fix`; the command line is ``python -m part.bin.datadir`` (``utils/validate_data_dir.sh``,
``utils/fix_data_dir.sh``).
"""
from part.data.datadir.errors import MAX_PROBLEMS_PER_KIND, DataDirError, Problems, ignore_problem, raise_problem
from part.data.datadir.fix import FixReport, fix_data_dir
from part.data.datadir.layout import (
    EXTRA_RECORDING_FILES,
    EXTRA_SPK_FILES,
    EXTRA_UTT_FILES,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    TRANSLATION_PREFIX,
)
from part.data.datadir.read import DataDir, iter_utterances, load_data_dir, read_data_dir
from part.data.datadir.records import DataDirSummary, Segment, Utterance
from part.data.datadir.table import (
    KaldiFile,
    KaldiLine,
    id_problem,
    iter_kaldi_file,
    join_sorted,
    kaldi_value,
    read_kaldi_dict,
    read_kaldi_file,
    sort_key,
    write_kaldi_file,
)
from part.data.datadir.validate import ValidationReport, validate_data_dir
from part.data.datadir.write import DataDirWriter, utt2spk_to_spk2utt, write_data_dir, write_utterances

__all__ = [
    "MAX_PROBLEMS_PER_KIND", "DataDirError", "Problems", "ignore_problem", "raise_problem", "FixReport",
    "fix_data_dir", "EXTRA_RECORDING_FILES", "EXTRA_SPK_FILES", "EXTRA_UTT_FILES", "OPTIONAL_FILES",
    "REQUIRED_FILES", "TRANSLATION_PREFIX", "DataDir", "iter_utterances", "load_data_dir", "read_data_dir",
    "DataDirSummary", "Segment", "Utterance", "KaldiFile", "KaldiLine", "id_problem", "iter_kaldi_file",
    "join_sorted", "kaldi_value", "read_kaldi_dict", "read_kaldi_file", "sort_key", "write_kaldi_file",
    "ValidationReport", "validate_data_dir", "DataDirWriter", "utt2spk_to_spk2utt", "write_data_dir",
    "write_utterances",
]
