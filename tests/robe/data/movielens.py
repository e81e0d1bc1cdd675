"""A small MovieLens-like ratings CSV with a header, for the bring-your-own-data tests.

Users have an age and a gender, items a release year and one to three genres
(`Action|Comedy`); ratings 1-5 depend on user and item biases and on how much the
user's age group likes the item's genres; timestamps increase down the file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Western")
COLUMNS = ("user_id", "age", "gender", "item_id", "genres", "year", "rating", "timestamp")


def write_ratings(
    path: Path, rows: int = 6000, users: int = 300, items: int = 200, seed: int = 0
) -> None:
    rng = np.random.default_rng(seed)
    age = rng.integers(16, 70, users)
    gender = rng.choice(["M", "F"], users)
    user_bias = rng.normal(0, 0.6, users)
    year = rng.integers(1922, 1999, items)
    item_bias = rng.normal(0, 0.8, items)
    genre_sets = [
        sorted(rng.choice(len(GENRES), rng.integers(1, 4), replace=False).tolist())
        for _ in range(items)
    ]
    taste = rng.normal(0, 0.8, (3, len(GENRES)))  # age group x genre
    popularity = rng.zipf(1.3, rows) % items
    who = rng.integers(0, users, rows)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for r in range(rows):
            u, i = int(who[r]), int(popularity[r])
            group = 0 if age[u] < 30 else 1 if age[u] < 50 else 2
            score = 3.4 + user_bias[u] + item_bias[i] + taste[group, genre_sets[i]].mean()
            rating = int(np.clip(np.rint(score + rng.normal(0, 0.7)), 1, 5))
            genres = "|".join(GENRES[g] for g in genre_sets[i])
            out.writerow(
                (
                    u + 1,
                    int(age[u]),
                    gender[u],
                    i + 1,
                    genres,
                    int(year[i]),
                    rating,
                    874_700_000 + 60 * r,
                )
            )


if __name__ == "__main__":
    import sys

    write_ratings(Path(sys.argv[1] if len(sys.argv) > 1 else "ratings.csv"))
