"""`doodle studio`: draw a doodle in the browser and watch the painting follow.

- `styles.py`: the paintings, their maps and palettes, and the trained models that match them;
- `drawing.py`: the canvas's snapshots (snapped to the palette), its setup, uploads checked unread;
- `runs.py`: paintings, previews and training on threads, with progress and a clean stop;
- `session.py`: the server's and each browser tab's state, the studio's rules;
- `app.py` and `canvas.js`: the Gradio page and its drawing canvas, which only translate.
"""
