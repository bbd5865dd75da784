"""The domain layer: plain Python, no Streamlit. Every public function takes a Session and the
acting user (an `Actor`), checks permission and scope, and returns plain data."""
