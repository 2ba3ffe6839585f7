"""The one preprocessing core that ingest, training and serving all import.

Keeping frame sampling, face cropping, label mapping and image normalisation in one
place is what prevents training/serving skew.
"""
