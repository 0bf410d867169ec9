"""Training: corpus -> (log-mel, teacher curves) streams -> the diffusion model, with EMA and resume."""
