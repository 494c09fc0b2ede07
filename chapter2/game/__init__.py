"""The rock-paper-scissors game of Chapter_2_5: the rules, simple predictors to
compare with, a trained model stepped one move at a time, saved models loaded
and checked, the model against simulated players, the terminal game and the
chapter's figure. Reading and writing data.txt is chapter2.data.games."""
