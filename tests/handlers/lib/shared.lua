return { name = "shared-module" }
