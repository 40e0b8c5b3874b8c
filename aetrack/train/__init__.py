"""Training: the loop (:func:`train`), checkpoints (:func:`load_checkpoint`) and distributed setup.

    from aetrack.experiment import load_experiment
    from aetrack.train import train, load_checkpoint

    result = train(load_experiment("configs/debug.yaml"))
    ckpt = load_checkpoint(result.out_dir / "last.pt")    # model rebuilt from the stored config
"""

from aetrack.train.checkpoint import Checkpoint as Checkpoint
from aetrack.train.checkpoint import load_checkpoint as load_checkpoint
from aetrack.train.checkpoint import save_checkpoint as save_checkpoint
from aetrack.train.loop import TrainResult as TrainResult
from aetrack.train.loop import train as train
