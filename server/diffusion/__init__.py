"""Diffusion pieces kept apart: noise schedule, DDIM sampler, guidance, masks, pin/seam blending."""
