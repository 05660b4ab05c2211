"""COCO's BBOB suites as problems: the 24 noiseless functions (``bbob``), their mixed-integer
versions (``bbob-mixint``) and the 30 noisy functions (``bbob-noisy``), evaluated by COCO's own
``cocoex``, with exact optima from IOHexperimenter's ``ioh``."""
