"""Storage backends behind one interface (base.Backend)."""
