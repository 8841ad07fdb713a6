"""`make soak`: a randomized, fault-injecting soak the project runs on itself."""
