"""(format module, being written)"""
