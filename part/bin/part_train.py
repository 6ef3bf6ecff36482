"""Train a PART model (or pretrain its encoder) through ESPnet's task machinery.

    python -m part.bin.part_train --print_config
    python -m part.bin.part_train --config conf/part/phase1.yaml --output_dir exp/part/phase1 ...
"""
from part.tasks.part_task import PARTTask


def get_parser():
    return PARTTask.get_parser()


def main(cmd=None):
    PARTTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
