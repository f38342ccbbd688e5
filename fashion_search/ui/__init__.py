"""Components and configuration of the Streamlit search page (search_ui/app.py lays them out)."""
