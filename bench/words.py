"""Words the benchmark names its files with (bench/django_tasks.py) and searches for (bench/run/)."""

WORDS = [
    "beach", "sunset", "family", "holiday", "birthday", "wedding", "party", "garden", "mountain", "river",
    "city", "night", "morning", "winter", "summer", "autumn", "spring", "office", "project", "report",
    "invoice", "receipt", "scan", "draft", "final", "backup", "camera", "screen", "shot", "trip",
    "paris", "london", "tokyo", "delhi", "mumbai", "goa", "kids", "dog", "cat", "car",
    "house", "kitchen", "concert", "match", "school", "college", "friends", "dinner",
]
