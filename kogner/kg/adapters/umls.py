def read(spec):
    raise NotImplementedError
