"""Independent tools that check carehaven's answers: τ-Argus (pytauargus) and SACRO's acro."""
