"""A procedurally drawn catalog in the Kaggle layout: specs (what is drawn), draw (the pictures),
generate (styles.csv + images, deterministic per seed)."""
