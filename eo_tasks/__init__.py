"""EO learning tasks: datasets, synthetic stand-ins, the fusion-CNN family and a seeded trainer."""
