"""ChatGPT OAuth: login flows, token claims, the credential store and refresh."""
