"""SPT's configs are written by hand (configs/spt/); its recipe names
their family."""
METHODS = {}
COLLECTIONS = {
    'spt':
    ('SPT', 'Revisiting the Power of Prompt for Visual Tuning', None, None),
}
