"""Methods that optimise pixels (Gatys, MRF, DPST, Ruder) or correspondences (Deep Image Analogy, PatchMatch)."""
