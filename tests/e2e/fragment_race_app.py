"""A minimal Streamlit app for test_fragment_race.py: a fragment on a fast timer beside a button; every full
run of the script shows its serial number. FEATVIZ_TEST_FRAGMENT_FIX=0 leaves Streamlit as it ships;
FEATVIZ_TEST_PAGES=1 makes it two pages ("Page One", "Page Two") with the same sidebar fragment."""

import os

import streamlit as st

from featviz_ui import fragment_reruns

if os.environ.get("FEATVIZ_TEST_FRAGMENT_FIX", "1") == "1":
    fragment_reruns.install()

TICK_S = float(os.environ.get("FEATVIZ_TEST_TICK_S", "0.1"))
state = st.session_state
state["full_runs"] = state.get("full_runs", 0) + 1  # fragment runs do not run this line


@st.fragment(run_every=TICK_S)
def ticking() -> None:
    state["ticks"] = state.get("ticks", 0) + 1
    st.caption(f"ticks: {state['ticks']}")


def body() -> None:
    st.button("Rerun")
    st.write(f"full run {state.full_runs}")


def one() -> None:
    st.header("Page One")
    body()


def two() -> None:
    st.header("Page Two")
    body()


with st.sidebar:
    ticking()
if os.environ.get("FEATVIZ_TEST_PAGES") == "1":
    st.navigation([st.Page(one, title="One", default=True), st.Page(two, title="Two")]).run()
else:
    body()
