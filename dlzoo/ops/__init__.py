"""Reusable ops: conv arithmetic, boxes, beam search, gradient checking."""
