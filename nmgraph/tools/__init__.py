"""Tools on top of the layers below: the nm.Runtime facade, energy analysis of runs, studies, plots,
the command line and the demo."""
