"""Recurrent cells, sequence layers, connections and stacks (keras.ops only).

    from zoo.layers import LSTM, GRU, SimpleRNN, RecurrentStack
"""

from zoo.layers.adaptive_softmax import AdaptiveSoftmaxEmbedding
from zoo.layers.base import RecurrentCell
from zoo.layers.base import RecurrentSequenceLayer
from zoo.layers.connections import CONNECTIONS
from zoo.layers.connections import HighwayConnection
from zoo.layers.connections import ResidualConnection
from zoo.layers.gru import GRU
from zoo.layers.gru import GRUCell
from zoo.layers.lstm import LSTM
from zoo.layers.lstm import LSTMCell
from zoo.layers.pooling import POOLINGS
from zoo.layers.pooling import SequencePooling
from zoo.layers.sequence_ops import ActivationRegularization
from zoo.layers.sequence_ops import BiasAdd
from zoo.layers.sequence_ops import ReverseTokens
from zoo.layers.sequence_ops import TruncateSequence
from zoo.layers.sequence_ops import WordDropout
from zoo.layers.simple_rnn import SimpleRNN
from zoo.layers.simple_rnn import SimpleRNNCell
from zoo.layers.stack import CELLS
from zoo.layers.stack import LOCKED
from zoo.layers.stack import RecurrentStack

__all__ = [
    "ActivationRegularization",
    "AdaptiveSoftmaxEmbedding",
    "BiasAdd",
    "CELLS",
    "CONNECTIONS",
    "LOCKED",
    "GRU",
    "GRUCell",
    "HighwayConnection",
    "LSTM",
    "LSTMCell",
    "POOLINGS",
    "RecurrentCell",
    "RecurrentSequenceLayer",
    "RecurrentStack",
    "ResidualConnection",
    "ReverseTokens",
    "SequencePooling",
    "SimpleRNN",
    "SimpleRNNCell",
    "TruncateSequence",
    "WordDropout",
]
