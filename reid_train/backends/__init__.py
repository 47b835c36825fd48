"""Inference backends that ``reid_train`` adds to the runtime (registered in ``reid_train.plugin``)."""
