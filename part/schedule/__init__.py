"""Parameter-activation and task-mix schedules (which parameters train and which tasks are mixed, per
epoch). A schedule is data in the phase's YAML, for example PART phase 2::

    schedule_conf:
      trainable:          # first epoch -> parameter groups that train from that epoch on
        1: [adapter, encoder_last_2]
        3: [adapter, encoder]
      tasks:              # first epoch -> task categories in the training batches
        1: [asr]

Parameter groups: ``adapter``, ``encoder``, ``encoder_last_<N>`` (the last N encoder blocks and what
follows them), ``encoder_ctc`` (the encoder's CTC head), ``llm_lora`` (the LLM's LoRA weights) and
``llm`` (every LLM weight: full fine-tuning).
"""
from part.schedule.schedule import ActivationSchedule, apply_trainable, resolve_group

__all__ = ["ActivationSchedule", "apply_trainable", "resolve_group"]
