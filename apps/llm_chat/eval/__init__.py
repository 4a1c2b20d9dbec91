"""The agent evaluation: questions with known correct SQL, scored by execution accuracy
(`manage.py eval_agent`)."""
