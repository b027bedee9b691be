return { handler = 42 }
