"""The game-day runner: experiments under load, judged against targets, reported."""
