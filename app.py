"""featviz: see what single neurons of a CNN respond to. Run with ``streamlit run app.py``.

The entry point only declares the pages (files in ``pages/``), draws the shared sidebar and runs the chosen
page. Everything heavy (torch, models) is imported inside functions when a page first needs it; the
libraries Streamlit's charts and tables import lazily are imported here first, in one thread at a time,
so two scripts of a fresh server never race to import them (featviz_ui.preload).
"""

import streamlit as st

from featviz_ui import address_bar, fragment_reruns, layout, preload, present, sidebar

fragment_reruns.install()  # a timed fragment rerun must not hide the end of a run (see the module)
preload.import_page_libraries()

st.set_page_config(page_title="featviz", page_icon=":material/visibility:", layout="wide")

explorer = st.Page("pages/explorer.py", title="Explorer", icon=":material/grid_view:", default=True)
neuron = st.Page("pages/neuron.py", title="Neuron", icon=":material/center_focus_strong:", url_path="neuron")
layers = st.Page("pages/layers.py", title="Layers", icon=":material/layers:", url_path="layers")
method = st.Page("pages/method.py", title="Method", icon=":material/menu_book:", url_path="method")
photo = st.Page("pages/photo.py", title="Photo", icon=":material/add_photo_alternate:", url_path="photo")
lecture = st.Page("pages/lecture.py", title="Lecture", icon=":material/slideshow:", url_path="lecture")
gallery = st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:", url_path="gallery")

# Render slots each page follows; the sidebar keeps the others' renders alive while another page is open.
PAGE_SLOTS = {"explorer": ("explorer",), "neuron": ("neuron", "neuron_pixel"), "lecture": ("lecture",),
              "gallery": ("gallery",)}

presenting = present.requested()  # ?present=1: only the result; no navigation and no sidebar are drawn
page = st.navigation([explorer, neuron, layers, method, photo, lecture, gallery],
                     position="hidden" if presenting else "sidebar")
if presenting:
    present.show(background=tuple(slot for slots in PAGE_SLOTS.values() for slot in slots))
    st.stop()
current = "explorer" if page.url_path in ("", explorer.url_path) else page.url_path
if current == "explorer":
    address_bar.intake()  # a link may pick the model, so this runs before the sidebar draws the model picker
elif current == "neuron":
    address_bar.page_model()  # as may a Neuron page link (?model=...&layer=...&channel=3)
background = tuple(slot for name, slots in PAGE_SLOTS.items() if name != current for slot in slots)
sidebar.draw(background)
layout.test_run_delay()  # tests only (FEATVIZ_TEST_RUN_DELAY_S): widens the window between a click and its page
page.run()
