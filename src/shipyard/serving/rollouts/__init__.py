"""Safe rollouts: an endpoint update by blue/green, its traffic shifted in steps, baked,
and rolled back when a named alarm fires."""
