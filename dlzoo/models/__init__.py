"""Pure nn.Module models, usable without Lightning. One architecture per file."""
