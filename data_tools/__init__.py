"""Getting datasets and writing them as class-per-folder image trees."""
