#!/usr/bin/env moonrun-not-a-real-interpreter
print("after the shebang", ...)
