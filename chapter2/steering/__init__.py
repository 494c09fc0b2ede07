"""What Chapter_2_2.py and Chapter_2_3.py share beyond their listings: settings checks, the
input pipeline, the test against the mean with its figures, and the closed-loop drive."""
