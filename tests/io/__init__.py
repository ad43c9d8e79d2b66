"""Tests for deepprior.io, one file per module of the package."""
