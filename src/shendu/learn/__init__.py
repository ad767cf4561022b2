"""The learning path: the course's worked examples as code (`shendu.learn.worked`), rendered by `shendu explain`
and reproduced by the tutorials in `tutorials/`."""
